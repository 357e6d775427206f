"""Cues in languages beyond the main lexicon's, as data (`taxonomy` holds English, Spanish, French,
German, Italian, Portuguese and Dutch).

- `SPACED`: words of languages written with spaces between words (Polish, Turkish, Vietnamese,
  Indonesian, Russian, Arabic, Hindi), folded as `lexicon.fold` folds text (ł -> l, ı -> i, ấ -> a),
  in the form of `taxonomy.LEXICON` (label -> {weight: "cue, cue*, ..."}); `lexicon` compiles them
  with it. The verbs and nouns that name a task, not a vocabulary.
- `UNSPACED`: substrings that name a task in Chinese, Japanese and Korean, where words are not
  separated (Korean is, but its particles cling to the word: "코드를"). The classifier looks for them
  in the turn's first 400 characters; each task found adds its weight (`UNSPACED_WEIGHTS`, else
  `UNSPACED_WEIGHT`). Greetings and small talk only in a short turn (`UNSPACED_SHORT`): a letter to
  translate is full of them.
"""

from __future__ import annotations

SPACED = {
    "code_generation": {
        2.0: "переделай, перепиши, napisz funkcj*, viet ham, buatkan kode",
        1.5: "функци*, програм*, скрипт*, دالة, برنامج, प्रोग्राम, फ़ंक्शन, फंक्शन, funkcj*, fonksiyon*, fungsi, ham",
        1.0: "код, كود, कोड, kod, kode, ma nguon",
    },
    "code_review": {
        2.0: "ошибк*, исправ*, خطأ, त्रुटि, popraw*, blad, hata*, duzelt*, sua loi, perbaiki",
    },
    "math": {
        3.0: "вычисли*, уравнени*, сколькими способами, احسب, معادلة, गणना, समीकरण, oblicz*, calk*, rownani*, "
        "hesapla*, denklem*, olasilik*, xac suat, phuong trinh, hitung*, persamaan, peluang",
        2.0: "реши, решите, حل, हल, ज्ञात, क्षेत्रफल, площадь, вероятност*, интеграл*, rozwiaz*, coz, cozun, "
        "giai, tinh, integral",
    },
    "reasoning": {
        3.0: "самый старший, самый младший, загадк*, взвешивани*, фальшив*, لغز, पहेली, zagadk*, bilmece*, bulmaca*, cau do, teka teki",
        2.0: "старше, младше, логическ*, منطق*, logiczn*, mantik*, suy luan",
    },
    "creative_writing": {
        3.0: "стихотворени*, стих, قصيدة, कविता, wiersz*, siir, bai tho, puisi, pantun, cerpen",
        2.0: "рассказ*, сказк*, историю, قصة, कहानी, opowiadani*, bajk*, hikaye*, masal*, truyen, cerita, dongeng",
        1.0: "напиши, اكتب, लिखिए, लिखो, napisz, yaz, viet, tulis*, tuliskan",
    },
    "roleplay": {
        3.0: "сыграй, представь что ты, ты теперь, تقمص, تخيل أنك, अभिनय, udawaj, wciel sie, rol yap*, "
        "gibi davran*, dong vai, berperan, pura pura",
    },
    "extraction": {
        3.0: "извлеки, استخرج, निकालें, निकालो, wyciagnij, wypisz, cikar*, trich xuat, ekstrak*",
        2.0: "liste halinde, w formie listy, dang danh sach, dalam daftar",
    },
    "summarization": {
        3.0: "кратко, краткое содержание, перескажи, резюмируй, لخص, ملخص, सारांश, सार, podsumuj*, "
        "streszcz*, ozetle*, ozet, tom tat, ringkas*, rangkum*",
    },
    "translation": {
        3.0: "перевед*, перевод*, переклад*, ترجم, ترجمة, अनुवाद, przetlumacz*, tlumacz*, cevir*, tercume*, "
        "dich sang, terjemah*",
    },
    "analysis": {
        3.0: "сравни*, анализ*, преимущества и недостатки, قارن, حلل, تحليل, तुलना, विश्लेषण, porownaj, "
        "przeanalizuj, karsilastir*, phan tich, so sanh, bandingkan, analisa*",
        2.0: "риск*, zalety i wady, artilari ve eksileri, uu nhuoc diem, kelebihan dan kekurangan",
        1.0: "лучше, вариант, lepiej, daha iyi, tot hon, lebih baik",
    },
    "question_answering": {
        2.0: "tai sao, vi sao, mengapa, kenapa, neden, dlaczego, почему",
    },
    "general_chat": {
        3.0: "как дела, давай поболтаем, كيف حالك, आप कैसे हैं, co slychac, jak sie masz, nasilsin, "
        "laflayalim, sohbet edelim, ban khoe khong, apa kabar, ngobrol",
        2.0: "привет, спасибо, مرحبا, شكرا, नमस्ते, धन्यवाद, czesc, dzieki, siema, selam, merhaba, "
        "tesekkurler, xin chao, cam on, halo, makasih, terima kasih",
    },
}

UNSPACED_WEIGHT = 3.0
# decisive verbs: "扮演" (play the role of) a character from a "小说" (novel); "翻译" (translate) a text
# about "云计算" (cloud computing: "计算" is also "calculate"); "要約" (summarize) an English article
UNSPACED_WEIGHTS = {
    "roleplay": 3.5,
    "translation": 3.5,
    "summarization": 3.5,
    "extraction": 3.5,
    "question_answering": 2.0,
}
_UNSPACED = {
    "translation": "翻译, 翻訳, 翻譯, 번역, 译成, 訳して, 英語に, 日本語に, 中国語に, 英訳, 和訳, 英文に, 翻成, 译为, 英语",
    "summarization": "总结, 摘要, 要約, 요약, 概括, 归纳, まとめて, 要点を, 요점",
    "code_generation": "代码, コード, 函数, 関数, 编写, 코드, 写一个程序, 写个, 程序, 脚本, プログラム, スクリプト, 実装, 正则, "
    "正規表現, 프로그램, 함수, 接口, 分页, 中间件, 单元测试, 爬虫, 数据库, ミドルウェア, データベース, 単体テスト, 미들웨어, "
    "데이터베이스, 단위 테스트",
    "code_review": "这段代码, 内存泄漏, 帮我看看, 报错, 调试, このコード, エラー, バグ, デバッグ, 이 코드, 오류, 에러, 리뷰, レビュー, 审查",
    "math": "方程, 计算, 計算, 積分, 积分, 求解, 面积, 面積, 概率, 確率, 证明, 証明, 极限, 求导, 导数, 방정식, 급수, "
    "부분분수, 계산, 확률",
    "reasoning": "川を渡, 向こう岸, 说谎, 真话, 谎话, 推理, 逻辑, 谜题, 谜语, 过河, 推出, 反例, 嘘をつ, 正直者, 論理, なぞなぞ, パズル, "
    "より背が, 天秤, 偽物, 到着順, 並び方, 거짓말, 수수께끼, 논리",
    "creative_writing": "诗, 故事, 詩, 物語, 시를, 俳句, 短歌, 小说, 小説, 歌词, 歌詞, 童话, おとぎ話, 绝句, 写一首, 이야기, 소설",
    "roleplay": "扮演, 角色, 口吻, なりきって, 役を演じ, ロールプレイ, 演じて, 역할극, 연기해, 지금부터 너는, 口調",
    "question_answering": "什么是, 是什么, 怎么回事, とは何, とはどういう, 仕組み, 무엇인가요",
    "extraction": "提取, 抽取, 列出所有, 抽出, 抜き出, 추출",
    "analysis": "分析, 比较, 对比, 比較, 优劣, 优缺点, 利弊, 优势, 劣势, 情感倾向, メリット, デメリット, 長所と短所, 弱点, "
    "解釈, 要因, どっちの方が, どちらが, 분석, 비교, 장단점",
}


def _cues(text: str) -> tuple[str, ...]:
    return tuple(cue.strip() for cue in text.split(","))


UNSPACED = {task: _cues(cues) for task, cues in _UNSPACED.items()}
# Verbs that ask for something new to be made ("用Go写一个", "作って", "만들어"): with code shown, a
# request to write it, not to review it (the classifier's `making`)
UNSPACED_MAKING = _cues(
    "写, 编写, 实现, 生成, 创建, 开发, 書いて, 作って, 作成, 実装, 작성, 만들어, 구현, 생성"
)
UNSPACED_SHORT = 60  # characters: a turn this short may be small talk
UNSPACED_CHAT = _cues(
    "你好, 谢谢, 早上好, 晚上好, 聊聊, こんにちは, ありがとう, おはよう, 疲れた, 話し相手, 안녕, 감사, 고마워, 뭐 하고"
)

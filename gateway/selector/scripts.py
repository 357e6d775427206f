"""Cues in scripts other than Latin, as data (like `taxonomy`, which holds the Latin-script lexicon).

- `SPACED`: words of languages written with spaces between words (Russian, Arabic, Hindi), in the
  form of `taxonomy.LEXICON` (label -> {weight: "cue, cue*, ..."}); `lexicon` compiles them with it.
- `UNSPACED`: substrings that name a task in Chinese, Japanese and Korean, where words are not
  separated (Korean is, but its particles cling to the word: "코드를"). The classifier looks for them
  in the turn's first 400 characters; each task found adds its weight (`UNSPACED_WEIGHTS`, else
  `UNSPACED_WEIGHT`). No greetings: a letter to translate is full of them.
"""

from __future__ import annotations

SPACED = {
    "code_generation": {
        1.5: "функци*, програм*, скрипт*, دالة, برنامج, प्रोग्राम, फ़ंक्शन, फंक्शन",
        1.0: "код, كود, कोड",
    },
    "code_review": {
        2.0: "ошибк*, исправ*, خطأ, त्रुटि",
    },
    "math": {
        3.0: "вычисли*, уравнени*, احسب, معادلة, गणना, समीकरण",
        2.0: "реши, решите, حل, हल, ज्ञात, क्षेत्रफल, площадь, вероятност*",
    },
    "reasoning": {
        3.0: "загадк*, لغز, पहेली",
        2.0: "логическ*, منطق*",
    },
    "creative_writing": {
        3.0: "стихотворени*, стих, قصيدة, कविता",
        2.0: "рассказ*, сказк*, историю, قصة, कहानी",
        1.0: "напиши, اكتب, लिखिए, लिखो",
    },
    "roleplay": {
        3.0: "сыграй, представь что ты, ты теперь, تقمص, تخيل أنك, अभिनय",
    },
    "extraction": {
        3.0: "извлеки, استخرج, निकालें, निकालो",
    },
    "summarization": {
        3.0: "кратко, краткое содержание, перескажи, резюмируй, لخص, ملخص, सारांश",
    },
    "translation": {
        3.0: "перевед*, перевод*, переклад*, ترجم, ترجمة, अनुवाद",
    },
    "analysis": {
        3.0: "сравни*, анализ*, преимущества и недостатки, قارن, حلل, تحليل, तुलना, विश्लेषण",
    },
    "general_chat": {
        3.0: "как дела, كيف حالك, आप कैसे हैं",
        2.0: "привет, спасибо, مرحبا, شكرا, नमस्ते, धन्यवाद",
    },
}

UNSPACED_WEIGHT = 3.0
# decisive verbs: "扮演" (play the role of) a character from a "小说" (novel); "翻译" (translate) a text
# about "云计算" (cloud computing: "计算" is also "calculate")
UNSPACED_WEIGHTS = {"roleplay": 3.5, "translation": 3.5}
UNSPACED = {
    "translation": (
        "翻译",
        "翻訳",
        "翻譯",
        "번역",
        "译成",
        "訳して",
        "英語に",
        "日本語に",
        "中国語に",
        "英訳",
        "和訳",
        "英文に",
        "翻成",
        "译为",
        "英语",
    ),
    "summarization": ("总结", "摘要", "要約", "요약", "概括", "归纳", "まとめて", "要点を", "요점"),
    "code_generation": (
        "代码",
        "コード",
        "函数",
        "関数",
        "编写",
        "코드",
        "写一个程序",
        "写个",
        "程序",
        "脚本",
        "プログラム",
        "スクリプト",
        "実装",
        "正则",
        "正規表現",
        "프로그램",
        "함수",
    ),
    "code_review": (
        "这段代码",
        "报错",
        "调试",
        "このコード",
        "エラー",
        "バグ",
        "デバッグ",
        "이 코드",
        "오류",
        "에러",
    ),
    "math": (
        "方程",
        "计算",
        "計算",
        "積分",
        "积分",
        "求解",
        "面积",
        "面積",
        "概率",
        "確率",
        "证明",
        "証明",
        "방정식",
        "계산",
        "확률",
    ),
    "reasoning": (
        "说谎",
        "真话",
        "谎话",
        "推理",
        "逻辑",
        "谜题",
        "谜语",
        "过河",
        "嘘をつ",
        "正直者",
        "論理",
        "なぞなぞ",
        "パズル",
        "より背が",
        "거짓말",
        "수수께끼",
        "논리",
    ),
    "creative_writing": (
        "诗",
        "故事",
        "詩",
        "物語",
        "시를",
        "俳句",
        "短歌",
        "小说",
        "小説",
        "歌词",
        "歌詞",
        "童话",
        "이야기",
        "소설",
    ),
    "roleplay": (
        "扮演",
        "角色",
        "口吻",
        "なりきって",
        "役を演じ",
        "ロールプレイ",
        "演じて",
        "역할",
        "연기해",
    ),
    "extraction": ("提取", "抽取", "列出所有", "抽出", "抜き出", "추출"),
    "analysis": (
        "分析",
        "比较",
        "对比",
        "比較",
        "优劣",
        "优缺点",
        "利弊",
        "优势",
        "劣势",
        "メリット",
        "デメリット",
        "長所と短所",
        "분석",
        "비교",
        "장단점",
    ),
}

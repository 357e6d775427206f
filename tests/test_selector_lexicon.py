"""The hand-written task classifier (`gateway/router_model/lexicon`, `model_routing.classifier:
lexicon`, the default): its structural checks and the request shapes it reads, through `analyse`
with the lexicon (the default classifier) and the lexicon's own functions."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.router_model.lexicon import classifier, lexicon, shapes, signals
from gateway.selector.analysis import analyse


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def test_every_trace_mark_holds_a_core_and_a_trace_is_found_by_its_mark():
    for mark in signals.TRACE_MARKS:
        assert any(core in mark.lower() for core in signals.TRACE_CORES), mark
        assert signals.has_trace(f"it printed {mark} and stopped")
    assert not signals.has_trace("The exit was closed, so we found another way out.")


def _classes(text: str) -> int:
    return lexicon.scan(lexicon.words(text), 1.0, [0.0] * lexicon.SLOTS, set())


def test_the_word_classes_that_gate_the_trace_and_persona_checks_let_every_one_through():
    # a short turn read whole is checked for a trace or a persona only when its words hold a hint
    for mark in signals.TRACE_MARKS:
        text = f"it printed {mark} and stopped"
        assert _classes(text) & classifier.TRACE_HINT, mark
        assert classifier.classify(text)[1].trace, mark
    personas = [
        "You are Luna, a pirate captain.",
        "you're Captain Hook now.",
        "Du bist Hans, ein Bäcker.",
        "Tu es Marie, une détective.",
        "Eres Carmen, una cantante.",
        "Sei Giulia, una cuoca.",
        "Você é Ana, uma professora.",
        "Be Socrates and question me.",
        "Play Hamlet for me.",
        "Sé Carmen.",
        "Sois Marie.",
        "Spiel Hans.",
        "Spiele Hans.",
    ]
    for text in personas:
        assert shapes.persona(text), text
        assert _classes(text) & classifier.PERSONA_HINT, text
    for keyword in ("def ", "import ", "return "):
        text = f"then {keyword}value"
        assert signals.code_strength(text) > 0, keyword
        assert _classes(text) & classifier.CODE_HINT, keyword
    hints = classifier.TRACE_HINT | classifier.PERSONA_HINT | classifier.CODE_HINT
    assert not _classes("Say hello in five words.") & hints


def test_quantities_counts_numbers_that_are_amounts_and_finds_arithmetic_between_two_numbers():
    def quantities(text: str) -> tuple[int | None, bool]:
        return signals.quantities(lexicon.words(text))

    assert quantities("no numbers at all") == (None, False)
    assert quantities("give me 3 bullets") == (0, False)  # a count of answer parts
    assert quantities("I have 12 apples and 5") == (2, False)
    assert quantities("what is 17 times 23") == (2, True)  # both numbers found, overlapping
    assert quantities("100 divided by 4") == (2, True)
    assert quantities("100 divided by") == (1, False)
    assert quantities("7 times the fun") == (1, False)


@pytest.mark.parametrize(
    ("text", "is_riddle"),
    [
        ("What has keys but can't open locks?", True),
        ("What has a neck but no head, and wears a cap?", True),
        ("What goes up but never comes down, whatever you do?", True),
        ("I speak without a mouth and hear without ears. What am I?", True),
        ("Tengo agujas pero no sé coser, ¿quién soy?", True),
        ("Who am I?", False),  # alone: a question about the asker, not a riddle
        ("What has changed in Python 3.12 but not in 3.11?", False),
        ("What can I cook tonight but without eggs?", False),
        ("What goes well with salmon but is not too heavy?", False),
        ("What has the highest GDP but the lowest growth in Europe?", False),
    ],
)
def test_the_shapes_of_a_riddle_and_the_questions_that_only_look_like_one(text, is_riddle):
    assert signals.riddle(lexicon.words(text)) is is_riddle


def test_a_riddle_is_reasoning_and_a_lookalike_question_is_not():
    assert classifier.classify("What has keys but can't open locks, and space but no room?")[0] == "reasoning"
    assert classifier.classify("The more you take, the more you leave behind. What am I?")[0] == "reasoning"
    assert classifier.classify("What has changed in Python 3.12 but not in 3.11?")[0] != "reasoning"


def _conversation_task(*turns: str) -> str:
    """The task of a conversation whose turns alternate user, assistant, ..., user."""
    roles = ["user", "assistant"] * len(turns)
    messages = [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]
    return analyse({"model": "auto", "messages": messages}).task


def test_a_follow_up_that_opens_with_ok_or_thanks_goes_on_with_the_conversation():
    visa = ("Do I need a visa to visit Japan for two weeks as a US citizen?", "No, for up to 90 days.")
    assert _conversation_task(
        *visa, "ok and what currency do they use there? are credit cards widely accepted?"
    ) == ("question_answering")
    assert (
        _conversation_task(*visa, "thanks!") == "general_chat"
    )  # a thank-you alone still ends the conversation


def test_politeness_between_the_words_of_a_request_does_not_hide_its_phrase():
    assert lexicon.words("Spiel bitte einen Taxifahrer") == ["spiel", "einen", "taxifahrer"]
    assert classifier.classify(
        "Spiel bitte einen ruppigen Berliner Taxifahrer, der mich zum Flughafen fährt."
    )[0] == ("roleplay")
    assert classifier.classify("can you pls act as my landlord? I want to practise asking for a repair")[
        0
    ] == ("roleplay")
    cues = [*lexicon.LEXICON.exact, *lexicon.LEXICON.stems, *lexicon.LEXICON.phrases]
    cues += [word for rests in lexicon.LEXICON.phrases.values() for word in rests]
    assert lexicon.FILLERS.isdisjoint(cues)  # a filler is never looked up: no cue may hold one


def test_material_after_a_short_first_paragraph_is_weaker_evidence_than_the_instruction():
    memo = (
        "Starting January 1, all employees must book travel through the new portal. Bookings made "
        "outside it will no longer be reimbursed except in documented emergencies, and the policy "
        "limits are now checked automatically. Managers must approve any trip over 2 nights. "
    ) * 2
    assert classifier.classify("tl;dr pls\n\n" + memo)[0] == "summarization"
    logs = "\n".join(
        f"2024-11-18T10:02:{n:02d}Z req=9f1a{n} GET /api/orders {200 if n % 3 else 502} {40 + n}ms"
        for n in range(12)
    )
    assert classifier.classify("from these logs get me every request id that returned a 5xx\n\n" + logs)[
        0
    ] == ("extraction")
    # the same words without the blank line are read as one text; a short text after it is no material
    assert shapes.paragraph_cut("tl;dr pls\n\n" + memo) == len("tl;dr pls\n\n")
    assert shapes.paragraph_cut("Translate this\n\nHola") == 0


def test_small_talk_inside_a_scene_the_user_set_up_is_a_line_of_the_scene():
    scene = ("Act as a grumpy waiter in a Madrid tapas bar. I'm the customer.", "¿Qué quiere?")
    assert _conversation_task(*scene, "Hola, ¿me trae la carta, por favor?") == "roleplay"
    assert _conversation_task(*scene, 'ok, stop. translate "the bill, please" into German') == "translation"
    intro = ("I'm a teacher and need help with my class.", "Sure, how can I help?")
    assert _conversation_task(*intro, "what is the capital of France?") == "question_answering"
    assert _conversation_task("We're a team of 12 based in Canada.", "Noted.", "does GDPR apply to us?") == (
        "question_answering"
    )


def test_a_product_assistant_named_in_the_system_prompt_is_not_a_character_to_play():
    for system in (
        "You are Nova, a friendly assistant in a consumer chat app made by Lumen Labs.",
        "You are StudyBuddy, a homework helper for teenagers. Always show the steps.",
        "Du bist LexAssist, der HR- und Rechtsassistent eines Unternehmens.",
        "You are CodePilot, an AI assistant embedded in the user's IDE.",
    ):
        assert not shapes.persona(system), system
        assert classifier.classify("what's your name? are you chatgpt?", system)[0] == "general_chat"
    assert shapes.persona("You are Captain Mara Voss, commander of the freighter Kestrel. Stay in character.")
    assert shapes.persona("You are Luna, a shy elf who guards the forest.")


def test_a_language_code_on_the_first_line_asks_for_a_translation():
    for text in (
        "EN→ES\nYour order has shipped.",
        "pt-BR:\nForgot your password?",
        "de > fr\nDie Lieferung kommt morgen an.",
    ):
        assert classifier.classify(text)[0] == "translation", text
    for text in ("Hi:\nthere is a problem with my order", "It:\nwas raining all day", "Note\nbuy milk"):
        assert not shapes.language_line(text), text


def test_a_follow_up_that_asks_nothing_new_goes_on_with_the_conversation():
    sql = "```sql\nSELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id;\n```"
    messages = [
        {"role": "user", "content": "postgres: top 10 customers by total spend"},
        {"role": "assistant", "content": sql},
        {"role": "user", "content": "nice. now same thing but per month, only for 2025"},
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "code_generation"
    assert classifier.classify("ok so is a tomato a fruit or not")[0] == "question_answering"


def test_code_shown_with_a_problem_is_a_review_and_with_a_request_to_make_something_is_not():
    dockerfile = (
        "FROM python:3.11\nWORKDIR /app\nCOPY . .\nRUN apt-get update && apt-get install -y gcc\n"
        'RUN pip install -r requirements.txt\nCMD ["python", "main.py"]'
    )
    assert classifier.classify("this Dockerfile builds a 2 GB image, can it be smaller?\n\n" + dockerfile)[
        0
    ] == ("code_review")
    assert classifier.classify("add a non-root user and a healthcheck to this Dockerfile:\n\n" + dockerfile)[
        0
    ] == ("code_generation")


def test_other_scripts_have_their_cues_and_latin_words_inside_them_are_words():
    assert lexicon.words("用Java写一个线程安全的单例模式") == ["java"]
    assert (
        len(lexicon.words("अनुवाद कीजिए")) == 2
    )  # vowel signs are folded away, as accents are: one word each
    cases = {
        "用Python写一个程序：读取一个CSV文件，计算每一列的平均值。": "code_generation",
        "把下面这段话翻译成英文：我们公司专注于为中小企业提供云计算服务。": "translation",
        "次の文章から、人名・組織名・地名をそれぞれ抽出してください。": "extraction",
        "请你扮演唐朝诗人李白，用他的口吻和我聊天。": "roleplay",
        "ترجم الجملة التالية إلى الإنجليزية: المكتبة مغلقة يوم الجمعة": "translation",
        "Сравни PostgreSQL и MongoDB для интернет-магазина": "analysis",
    }
    assert {text: classifier.classify(text)[0] for text in cases} == cases


def test_letters_without_a_decomposition_fold_too_and_more_languages_have_their_cues():
    assert lexicon.words("całka, çıkarıp, xác suất, Ørsted") == ["calka", "cikarip", "xac", "suat", "orsted"]
    cases = {
        "Tính xác suất để khi gieo hai con xúc xắc, tổng số chấm bằng 7.": "math",
        "Aşağıdaki metinden tüm tarihleri çıkarıp liste halinde yazar mısın?": "extraction",
        "Tolong ringkas obrolan grup ini dong, aku ketinggalan banyak": "summarization",
        "早上好呀！今天天气真不错～你今天怎么样？": "general_chat",
    }
    assert {text: classifier.classify(text)[0] for text in cases} == cases


def test_a_translation_app_translates_text_that_looks_like_code():
    system = "Translate every message the user sends into German. Keep placeholders like {name} as they are."
    text = (
        '"Level up! Your dragon is now level {level}."\n"Not enough energy. Come back in {minutes} minutes!"'
    )
    assert classifier.classify(text, system)[0] == "translation"
    assert classifier.classify("translate this Python to Go: def f(x): return x * 2")[0] == "code_generation"


def test_a_request_to_change_code_already_given_is_code_and_a_word_with_two_senses_is_not_a_cue():
    messages = [
        {
            "role": "user",
            "content": "Write me a bash script that tars up ~/projects into /mnt/backup, dated.",
        },
        {
            "role": "assistant",
            "content": '```bash\ntar -czf "/mnt/backup/projects-$(date +%F).tgz" ~/projects\n```',
        },
        {
            "role": "user",
            "content": "Nice. Now make it keep only the 7 most recent backups and log to syslog.",
        },
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "code_generation"
    # 역할 is "role" in "what role does vitamin D play": not a role to play
    assert classifier.classify("비타민 D는 몸에서 어떤 역할을 하나요?")[0] == "question_answering"
    assert (
        classifier.classify("지금부터 너는 판타지 세계의 늙은 마법사야. 첫 수업을 시작해 줘.")[0]
        == "roleplay"
    )


def test_shapes_of_public_sets_a_function_to_complete_a_quoted_riddle_a_limit_an_action():
    stub = 'def longest_run(s: str) -> int:\n    """Return the length of the longest run of vowels."""\n'
    assert classifier.classify("Complete the following Python function.\n\n" + stub)[0] == "code_generation"
    said = "Brothers and sisters I have none, but that man's father is my father's son."
    riddle = f'Pointing at a photo, Tom says: "{said}" Whose photo is it?'
    assert classifier.classify(riddle)[0] == "reasoning"
    assert classifier.classify("Find lim_{x→0} (sin x − x) / x³ without L'Hôpital's rule.")[0] == "math"
    messages = [
        {"role": "user", "content": "Let's play a noir scene: you're a detective, I'm a client."},
        {"role": "assistant", "content": "*looks up from the desk* What brings you here?"},
        {"role": "user", "content": "*I sit, twisting my gloves* Four days. He's been gone four days."},
    ]
    assert analyse({"model": "auto", "messages": messages}).task == "roleplay"


def test_notation_in_latex_is_math_and_an_answer_format_is_not_a_role():
    latex = (
        r"Compute $\displaystyle\sum_{k=1}^{20} \frac{1}{k(k+1)}$. Express your answer as a common fraction."
    )
    assert classifier.classify(latex)[0] == "math"
    assert classifier.classify("光合成とはどういう仕組みですか？中学生にもわかるように説明してください。")[
        0
    ] == ("question_answering")


def test_a_bare_stub_a_making_verb_in_chinese_a_question_before_a_request_and_literary_themes():
    stub = '''def count_runs(s: str) -> int:
    """Return how many maximal runs of vowels s holds.

    >>> count_runs("beautiful")
    3
    """'''
    assert classifier.classify(stub)[0] == "code_generation"  # a signature and its docstring: the body
    go = '用Go写一个HTTP服务器：/health 返回 JSON {"status":"ok"}，收到SIGTERM时优雅关闭。'
    assert classifier.classify(go)[0] == "code_generation"  # "写" (write) with code shown: not a review
    asked = "日本の元号はいつ、誰がどうやって決めるのですか？令和のときの流れが知りたいです。"
    assert classifier.classify(asked)[0] == "question_answering"  # "？" first, then "I want to know."
    ways = "Wie viele Möglichkeiten gibt es, aus 10 Personen ein Komitee mit 4 Mitgliedern zu bilden?"
    assert classifier.classify(ways)[0] == "math"
    theme = "How does Shakespeare use the theme of ambition in Macbeth? Use specific scenes."
    assert classifier.classify(theme)[0] == "analysis"


def test_shell_one_liners_quoted_riddles_and_more_words_for_tricks_stories_laughter_and_questions():
    shell = "what does this do? found it in a cron job\n\nfind /srv -type f -name '*.tmp' -print0 | xargs -0 rm -f"
    assert classifier.classify(shell)[0] == "code_review"
    assert classifier.classify("is this ok? char buf[16]; strcpy(buf, argv[1]);")[0] == "code_review"
    middleware = "用 Go 写一个 net/http 的中间件，记录每个请求的方法和耗时。"
    assert classifier.classify(middleware)[0] == "code_generation"
    riddle = 'my kid brought this one home: "I have cities but no houses, and water but no fish. What am I?"'
    assert classifier.classify(riddle)[0] == "reasoning"
    trick = "Petite question piège : je double le deuxième d'une course. À quelle place suis-je ?"
    assert classifier.classify(trick)[0] == "reasoning"
    app = (
        "You are Quill, the writing assistant inside the Inkwell app. Match the user's requested length "
        "and tone. Do not add commentary before or after the piece unless asked."
    )
    story = (
        "Flash fiction, ~300 words: a lighthouse keeper receives a letter addressed to the keeper who "
        "died there a hundred years ago. The letter asks if the light is still on."
    )
    assert classifier.classify(story, app)[0] == "creative_writing"
    assert (
        classifier.classify("ما هي الأسباب الرئيسية لاندلاع الحرب العالمية الأولى؟")[0]
        == "question_answering"
    )
    assert classifier.classify("jajaja gracias, eres un crack")[0] == "general_chat"


def test_the_lexicons_verdict_is_the_likeliest_task_and_its_spread_says_how_sure_it_was():
    """`choice.lexicon` turns the lexicon's scores into probabilities whose argmax is its verdict: a
    prompt with a clear cue is likely, one with none is not (min_confidence reads the difference)."""
    prompts = [
        "Translate 'good night' into German",
        "Summarize this: the committee met and agreed on the budget.",
        "Solve for x: 3x + 7 = 22",
        "Say hello in five words to visitor 100.",
        "The blue one, maybe.",
    ]
    for text in prompts:
        found = analyse(chat(text))
        assert found.task == classifier.classify(text)[0], text
        assert abs(sum(found.signals.probabilities) - 1) < 1e-9 and found.confidence == max(
            found.signals.probabilities
        )
    assert analyse(chat(prompts[0])).confidence > 0.8
    assert analyse(chat(prompts[4])).confidence < 0.5  # no cue at all

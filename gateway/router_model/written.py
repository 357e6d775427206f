"""Examples written for the router where no public labelled data was found (creative writing,
role-play, analysis, extraction, general chat) and for the failure classes issue 18 names: an
email or a descriptive paragraph to draft, a translation app's system prompt with the foreign text
as the user turn, arithmetic in words in other languages, and "Act as ..." set-ups whose real task
is something else. Parts are combined deterministically (every combination, then a fixed-seed
sample), so the file stays short and the corpus the same on every machine.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

SOURCE = "grid-written"
CAP = 110  # per task

CREATIVE = (
    [
        "Write a {form} about {topic}.",
        "Draft a {form} on {topic}, {tone}.",
        "Could you write me a {form} about {topic}? Make it {tone}.",
        "I need a {form} for my sister's birthday card, something about {topic}.",
        "Compose a {form} — theme: {topic}. {tone}.",
        "write a descriptive paragraph about {topic}",
        "Draft an email to {person} about {topic}, {tone}.",
        "Escribe un {form_es} sobre {topic_es}.",
        "Écris un {form_fr} sur {topic_fr}.",
        "Schreib ein {form_de} über {topic_de}.",
    ],
    {
        "form": [
            "short story",
            "haiku",
            "limerick",
            "sonnet",
            "toast",
            "product description",
            "blog post intro",
            "song chorus",
            "fairy tale",
            "wedding speech",
        ],
        "topic": [
            "a lighthouse keeper who collects lost letters",
            "the first snow in a desert town",
            "our team shipping the release at 3am",
            "a dragon afraid of heights",
            "autumn in Kyoto",
            "my grandmother's kitchen",
            "a robot learning to garden",
            "the last bus home",
        ],
        "tone": [
            "funny but warm",
            "melancholic",
            "in a formal tone",
            "for kids",
            "no more than 150 words",
            "rhyming",
        ],
        "person": ["my landlord", "the hiring manager", "a customer whose order is late", "my team"],
        "form_es": ["cuento corto", "poema"],
        "topic_es": ["el mar en invierno", "un gato que habla"],
        "form_fr": ["poème", "conte"],
        "topic_fr": ["la pluie à Paris", "un vieux phare"],
        "form_de": ["Gedicht", "Märchen"],
        "topic_de": ["den ersten Schnee", "einen verlorenen Schlüssel"],
    },
)
ROLEPLAY = (
    [
        "Let's role-play: you are {who} and I am {me}. Stay in character. {line}",
        "Act as {who}. I'll be {me}. {line}",
        "Imagine you are {who}. Respond in character only. {line}",
        "*walks into the room* {line}",
        "You're {who} now, ok? I'm {me}. Start the scene.",
        "Pretend to be {who} and interview me as {me}.",
        "Juguemos a un rol: tú eres {who} y yo soy {me}. {line}",
        "Spielen wir: Du bist {who}, ich bin {me}.",
    ],
    {
        "who": [
            "a grumpy innkeeper in a fantasy village",
            "Sherlock Holmes",
            "a pirate captain",
            "my strict job interviewer",
            "a medieval knight",
            "an alien visiting Earth",
            "a barista in Paris",
            "a ghost haunting a library",
        ],
        "me": [
            "a traveller looking for a room",
            "a new recruit",
            "a nervous candidate",
            "a lost tourist",
            "a detective",
        ],
        "line": [
            "*knocks on the door* Anyone here?",
            "Hello there, stranger.",
            "What brings you to these parts?",
            "I have a confession to make...",
            "Begin.",
        ],
    },
)
ROLEPLAY_SYSTEMS = [
    (
        "You are Captain Mara Vex, a sarcastic starship pilot. Never break character. Use *actions*.",
        [
            "Hey captain, where are we headed?",
            "*sits down nervously* Is the ship safe?",
            "Tell me about your last mission.",
        ],
    ),
    (
        "You are Eldrin, an ancient elf sage in the Whispering Woods. Speak in an archaic style.",
        [
            "Greetings, wise one. I seek the path north.",
            "*offers a gift of bread* Will you help me?",
            "What do you fear?",
        ],
    ),
    (
        "Stay in character as Detective Rosa Kim interrogating a suspect in 1940s Los Angeles.",
        ["I told you, I wasn't there that night.", "*lights a cigarette* Got any proof?"],
    ),
]
ANALYSIS = (
    [
        "Compare {a} and {b} for {use}: pros, cons, and which you'd recommend.",
        "What are the main causes and consequences of {event}?",
        "Analyse the strengths and weaknesses of {plan}.",
        "Evaluate the argument that {claim}.",
        "Why did {event} happen? Give a nuanced assessment.",
        "Here are our numbers: {numbers}. What trends do you see and what might explain them?",
        "Critically assess {plan}, considering risks and trade-offs.",
        "Analiza las ventajas y desventajas de {plan}.",
        "Vergleiche {a} und {b}: Vor- und Nachteile.",
    ],
    {
        "a": ["PostgreSQL", "renting", "remote work", "nuclear power", "a Roth IRA"],
        "b": ["MongoDB", "buying a home", "office work", "solar", "a traditional IRA"],
        "use": ["a small startup", "a family of four", "a 30-person team", "a developing country"],
        "event": [
            "the 2008 financial crisis",
            "the fall of the Roman Empire",
            "the decline of print newspapers",
            "last quarter's drop in our signups",
        ],
        "plan": [
            "a four-day work week",
            "raising prices by 10%",
            "moving our infra to Kubernetes",
            "a universal basic income",
        ],
        "claim": [
            "social media has made people lonelier",
            "standardised tests predict success",
            "AI will reduce inequality",
        ],
        "numbers": [
            "Q1 120k, Q2 135k, Q3 128k, Q4 160k revenue",
            "churn 4%, 5.5%, 7% over three months",
            "NPS 42 in March, 31 in April",
        ],
    },
)
EXTRACTION = (
    [
        "Extract {what} from the text below and return JSON.\n\n{text}",
        "{text}\n\nList every {what} mentioned above.",
        "Pull the {what} out of this {kind}:\n{text}",
        "From this {kind}, give me a table of {what}.\n\n{text}",
        "Extrae {what} del siguiente texto:\n{text}",
    ],
    {
        "what": [
            "names and email addresses",
            "dates and amounts",
            "product names and prices",
            "action items with owners",
            "company names",
            "phone numbers",
        ],
        "kind": ["email", "invoice", "meeting notes", "CV", "receipt"],
        "text": [
            "Hi team, Maria (maria@acme.io) will send the Q3 deck by Oct 4. Payment of $12,400 is due Nov 1. Call Tom at +1 555 0134.",
            "Invoice #4471 — Widget Pro x3 @ 49.99 EUR, Cable Kit x1 @ 12.50 EUR, issued 2024-03-18, due 2024-04-17.",
            "Notes 12/05: Ana to fix login bug by Friday; Raj owns the migration; Li will email Globex and Initech about renewal.",
            "John Smith, Senior Analyst at Deloitte (2019-2023), previously KPMG; Python, SQL, Tableau; john.smith@mail.com",
        ],
    },
)
CHAT = (
    [
        "{greet}",
        "{greet} {mood}",
        "{mood}",
        "{greet} what's up?",
        "lol {mood}",
    ],
    {
        "greet": [
            "hey",
            "hi there!",
            "good morning :)",
            "yo",
            "Hola, ¿qué tal?",
            "Salut !",
            "Hallo, wie geht's?",
            "こんにちは",
            "ciao!",
            "Olá, tudo bem?",
        ],
        "mood": [
            "I'm bored, talk to me",
            "had such a long day honestly",
            "thanks, that was helpful!",
            "you're funny",
            "just wanted to say hi",
            "ok cool, night!",
            "how's your day going?",
            "tell me something fun",
        ],
    },
)
# the failure classes of issue 18, under their real task
SPECIAL = [
    (
        "translation",
        "Eres un traductor. Traduce al inglés todo lo que escriba el usuario.",
        "La reunión se pospuso hasta el jueves por la tarde.",
    ),
    (
        "translation",
        "You translate user messages into French. Output only the translation.",
        "The parcel was left with your neighbour at number 12.",
    ),
    (
        "translation",
        "Translate the following from German to English.",
        "Ich habe den Zug verpasst und komme eine Stunde später.",
    ),
    (
        "translation",
        "翻訳アシスタントです。ユーザーの文章を英語に翻訳してください。",
        "明日の会議は十時からです。",
    ),
    ("math", None, "Si tengo doce manzanas y regalo la tercera parte, ¿cuántas me quedan?"),
    ("math", None, "Wie viel ist siebzehn mal dreiundzwanzig?"),
    (
        "math",
        None,
        "Un train part à quatorze heures et roule à quatre-vingts km/h. Quelle distance a-t-il parcourue à dix-sept heures ?",
    ),
    ("math", None, "Quanto fa trecento diviso quindici, più otto?"),
    (
        "math",
        None,
        "Sarah buys 3 notebooks at $2.50 each and a pen for $1.20. She pays with a $10 bill. How much change does she get?",
    ),
    (
        "math",
        None,
        "A farmer has 48 eggs and packs them in boxes of 6. He sells 5 boxes. How many eggs are left?",
    ),
    (
        "code_generation",
        "Act as a senior Python developer.",
        "I need a script that renames every .txt file in a folder to include today's date.",
    ),
    (
        "code_generation",
        None,
        "Imagine you are a Go expert. Write a worker pool that processes jobs from a channel with a max of 4 goroutines.",
    ),
    ("math", None, "Act as my math tutor and solve: 2x + 5 = 17, showing each step."),
    (
        "translation",
        None,
        "Pretend you are a professional translator and translate this into Italian: We look forward to working with you.",
    ),
    (
        "summarization",
        None,
        "You are an executive assistant. Summarize this thread for my boss in three bullets: the vendor missed two deadlines, proposed a 10% discount, and asked for a call on Monday.",
    ),
    ("creative_writing", None, "Imagine you are a famous poet. Write a poem about the ocean at night."),
    ("question_answering", None, "Act as a historian: when did the Berlin Wall fall?"),
    ("creative_writing", None, "Draft an email to my team announcing that Friday is a day off."),
    ("creative_writing", None, "Write a descriptive paragraph about a busy market at dawn."),
    (
        "code_generation",
        None,
        'def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n    """Merge overlapping intervals and return them sorted by start."""',
    ),
    (
        "code_generation",
        None,
        'def is_valid_ipv4(address: str) -> bool:\n    """Return True if address is a dotted-quad IPv4 address with each octet in 0..255."""',
    ),
]


def _expand(templates: list[str], slots: dict[str, list[str]], task: str, seed: str) -> list[dict[str, Any]]:
    out: list[str] = []
    for template in templates:
        names = [n for n in slots if "{" + n + "}" in template]
        for values in itertools.product(*(slots[n] for n in names)):
            out.append(template.format(**dict(zip(names, values, strict=True))))
    rng = random.Random(seed)
    chosen = rng.sample(out, CAP) if len(out) > CAP else out
    return [{"source": SOURCE, "task": task, "messages": [{"role": "user", "content": t}]} for t in chosen]


def records() -> Iterator[dict[str, Any]]:
    yield from _expand(*CREATIVE, "creative_writing", "creative")
    yield from _expand(*ROLEPLAY, "roleplay", "roleplay")
    yield from _expand(*ANALYSIS, "analysis", "analysis")
    yield from _expand(*EXTRACTION, "extraction", "extraction")
    yield from _expand(*CHAT, "general_chat", "chat")
    for system, lines in ROLEPLAY_SYSTEMS:
        for line in lines:
            yield {
                "source": SOURCE,
                "task": "roleplay",
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": line}],
            }
    for task, system, text in SPECIAL:
        messages = [{"role": "system", "content": system}] if system else []
        yield {"source": SOURCE, "task": task, "messages": [*messages, {"role": "user", "content": text}]}

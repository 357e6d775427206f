"""Names of languages, as data: natural ones (a translation's target: "into French", "al inglés") and
programming ones with their frameworks and tools (evidence of a coding task). Folded as `lexicon.fold`
folds text.
"""

from __future__ import annotations

# Natural languages (folded), for "into French", "al inglés", "ins Englische" and friends.
LANGUAGES = (
    "english spanish french german italian portuguese dutch polish russian chinese mandarin cantonese "
    "japanese korean arabic hindi turkish greek swedish norwegian danish finnish czech hungarian "
    "romanian ukrainian hebrew vietnamese thai indonesian latin catalan swahili persian farsi urdu "
    "bengali tagalog ingles espanol castellano frances aleman italiano portugues chino japones ruso "
    "arabe anglais espagnol francais allemand italien portugais chinois japonais russe englisch "
    "englische spanisch spanische franzosisch franzosische deutsch deutsche italienisch italienische "
    "japanisch chinesisch russisch inglese spagnolo francese tedesco espanhol alemao engels duits frans "
    "spaans italiaans nederlands portugees angielski niemiecki francuski hiszpanski engelska tyska franska"
).split()
# Prepositions that make a language name a translation target, with their weight.
LANGUAGE_PREPOSITIONS = {
    "into": 2.5,
    "to": 1.5,
    "from": 1.2,
    "in": 0.6,
    "al": 2.0,
    "en": 1.0,
    "ins": 2.0,
    "auf": 1.0,
    "para": 1.5,
    "para o": 2.0,
    "in lingua": 1.5,
    "naar": 2.0,
    "naar het": 2.0,
    "na": 1.0,
    "till": 1.5,
}

# Programming languages, frameworks and tools: evidence of a coding task (generation or review).
PROGRAMMING = (
    "python javascript typescript java kotlin swift rust golang ruby php perl scala haskell elixir "
    "erlang clojure lua dart julia matlab bash shell powershell sql postgresql postgres mysql sqlite "
    "mongodb redis html css scss jsx tsx react vue angular svelte nextjs nodejs node django flask "
    "fastapi express spring rails laravel pandas numpy pytorch tensorflow pygame jquery graphql grpc "
    "docker dockerfile kubernetes k8s terraform ansible nginx webpack npm pip cargo gradle maven "
    "cpp csharp dotnet wasm regex regexp yaml xml api apis sdk cli linux unix git gcc clang javac rustc "
    "tsc eslint mypy pylint goroutine goroutines vlookup xlookup hlookup sumif sumifs countif countifs "
    "iferror"
).split()

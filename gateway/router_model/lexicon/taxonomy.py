"""The task taxonomy and the cue lexicons the classifier scores a request with.

Data only; `lexicon` compiles it once. Cues are written lower-case and without accents (the
classifier folds text the same way), in English, Spanish, French, German, Italian, Portuguese and
Dutch (more languages: `other_languages`; names of languages: `names`). A cue is a word (`summary`),
a stem ending in `*` (`summar*` matches summarize, summarise, summary...), or a phrase of words (`how
do you say`; stems allowed after the first word).

Weights say how sure a cue makes us: ~3 names the task outright ("translate", "summarize"), ~1.5-2 is
strong evidence, <1 only tips a balance. A cue may count towards several tasks. These are lexicons
of how people ask for things in general, not of any test set: add synonyms, never whole prompts.
"""

from __future__ import annotations

from gateway.router_model.tasks import TASKS  # noqa: F401 (the lexicon's tasks are the gateway's)

DEFAULT_TASK = "general_chat"

# label -> {weight: "cue, cue, ..."}
LEXICON: dict[str, dict[float, str]] = {
    "code_generation": {
        2.5: "complete the following, complete the function, complete this function, complete the code, "
        "complete this code, finish the function, finish this function, implement the function, regex for, "
        "a regex, regex that, regex to, regex which, what do i put in, what should i put in, excel formula, "
        "formula de excel, formula en excel, formule excel, excel formel, sheets formula, "
        "spreadsheet formula, implement*, implementa*, implementier*, code up, one liner, oneliner, "
        "boilerplate, scaffold*, unit test*, test case*, snippet*, dockerfile, makefile, crud, write code, "
        "write the code, write a program, write a script, write a function, write a class, write a query, "
        "write a regex, scrape*, scraper, web scraper, macro*, vba, write me a function, write me a script, "
        "code for, code that, code to, escribe un programa, escribe una funcion, escribe un script, "
        "ecris un programa, ecris une fonction, ecris un script, schreib eine funktion, "
        "schreibe eine funktion, schreibe ein programm, schreibe ein skript",
        1.5: "regularer ausdruck, regulare ausdruck, regularen ausdruck, expresion regular, "
        "expression reguliere, espressione regolare, goroutine*, worker pool, thread pool, channel*, "
        "concurren*, developer, engineer, programmer, coder, function*, funcion, funciones, fonction*, "
        "funktion*, funzione, funcao, script*, skript*, endpoint*, algorithm*, algoritm*, algorithmus, "
        "programm*, programa*, programme, component*, class, klasse, clase, classe, method*, metodo*, "
        "methode*, generics, recursion, recursive, linked list, lista enlazada, binary search, data class, "
        "regex*, query, queries, requete*, consulta sql, abfrage, workflow*, pipeline*, decorator*, "
        "middleware, web app, webapp, rest api, cli tool, command line tool, convert this code, port this, "
        "rewrite this in, pagination, paginat*, type guard, route*, handler*, websocket*, frontend, backend, "
        "database, orm, migration*, cron*, cronjob, alias, shell command, command to, hashmap, server, "
        "microservice*, widget*, form validation, login page, api call, http request, unittest, stubs, "
        "fixtures",
        1.0: "spreadsheet, sheets, tabellenblatt, hoja de calculo, feuille de calcul, code, codigo, coding, "
        "app, application, library, module, package, parser, website, html page, pytest, jest, junit, "
        "lambda, async, cache, lru, heap, array, dataframe, struct, interface, typescript, generate, "
        "generar, genera, generiere, erstelle, crea, cree, create, build, make a, make me a, haz un, "
        "haz una, fais un, construis, baue, develop*, automat*, view, screen, page, layout, modal, navbar, "
        "file, files, folder, directory, rename*, queue, stack, stacks, tree, graph, dictionary, button, "
        "upload*, download*, parse, json, csv, xml, log, logs, thing that, bot, cli, terminal",
        0.5: "write, escribe, ecris, schreib*, scrivi, escreva, add, add a, sort*, string, loop, variable*, "
        "tool, game, test*, config*, need a, i want a, give me a",
    },
    "code_review": {
        3.0: "time complexity, big o, space complexity, compiler warning, deadlock*, livelock, mess up, "
        "messed up, undefined reference, compile error, compiler error, build fails, build failed, "
        "code review, review my code, review this code, traceback, segfault, segmentation fault, "
        "stack trace, stacktrace, memory leak*, data race, race condition, thread safe, sql injection, "
        "off by one, what s wrong with my, what is wrong with my, why does my, why is my, doesn t compile, "
        "won t compile, spot the bug, find the bug, bad practice, best practice*, code smell*, my commit, "
        "this commit, break anything, woran liegt, que falla, qu est ce qui ne va pas, "
        "what am i doing wrong, debug this, fix this, fix my",
        2.0: "anything off, anything wrong with, anything missing, wat doet deze, wat doet dit, "
        "was macht diese, que hace esta, que fait cette, cosa fa questa, o que faz esta, what s going on, "
        "is this correct, is it correct, ist das korrekt, korrekt, es correcto, est ce correct, exits with, "
        "exit code, better way, cleaner way, more pythonic, pythonic, clunky, suggestions, could be wrong, "
        "puede estar mal, que puede estar mal, est ce qui cloche, was ist falsch, verifier, verifie, "
        "never stops, never ends, hangs, freezes, stuck, tarda, too slow, why does this, why does it, "
        "prints, outputs, bug, bugs, debug*, depur*, buggy, crash*, exception*, refactor*, idiomatic, "
        "vulnerab*, injection, lint*, pull request, code quality, my code, this code, ce code, mon code, "
        "este codigo, mi codigo, diesen code, meinen code, mein code, il codice, this function, "
        "this snippet, this query, this regex, this script, my script, my function, my query, "
        "cette fonction, ma fonction, ma requete, esta funcion, mi funcion, mi consulta, diese funktion, "
        "meine funktion, it throws, throws, wirft, lanza, not working, doesn t work, does not work, "
        "isn t working, infinite loop, keeps failing, keeps crashing, leak*, fehler*, erreur*, fallo*, "
        "falla, echoue, plante, abgesturzt, sturzt, returns wrong, wrong result, wrong output, "
        "unexpected output, duplicate rows, commit, committed",
        1.5: "klopt het, stimmt es, sistemare, sistemarlo, sistemala, aggiustare, correggere, correggi, "
        "si puo sistemare, repareren, verbeteren, napraw, complexity, can it be better, lesbarer, legible, "
        "lisible, readable, more readable, compil*, look over, go over, look at my, what did i, review*, "
        "revis*, relire, relis, corrige*, corregir, korrigier*, prufe*, pruf*, uberpruf*, fix, fixing, "
        "error*, feedback, audit*, security, insecure, secure, optimiz*, optimis*, slow, slower, "
        "performance, mistake*, wrong, fails, failing, failed, broken, crashes, issue*, diff, undefined, "
        "null, unexpected, explain this code, what does this code, what does this do, what is this doing, "
        "what does this function, que hace este codigo, que fait ce code, was macht dieser code, warning*, "
        "deprecated, resolve, unable to, rate my, get past, workaround, devuelve, renvoie, gibt zuruck",
        0.8: "check, why, pourquoi, warum, por que, problem*, problema*, improve*, clean up, style, readab*, "
        "maintainab*, cannot, can t, doesn t, won t",
    },
    "math": {
        3.0: "integration by parts, by substitution, equation*, ecuacion*, gleichung*, eigenvalue*, "
        "eigenvector*, integral*, derivative*, derivada*, derivee*, ableitung*, polynomial*, quadratic, "
        "logarithm*, hypotenuse, how many ways, probabilit*, probabilidad*, wahrscheinlichkeit*, calculus, "
        "algebra*, solve for, determinant, sqrt, gcd, lcm, antiderivative, square root, cube root, "
        "raiz cuadrada, racine carree, quadratwurzel, find x, solve x, what is x, differentiate",
        2.0: "divisor*, sum of all, critical point*, local max*, local min*, general solution, "
        "all solutions, anordnung*, wie viele verschiedene, wie viele moglichkeiten, auf wie viele arten, "
        "cuantas formas, de cuantas maneras, de quantas maneiras, de quantas formas, in quanti modi, "
        "op hoeveel manieren, de combien de facons, combien de facons, in how many ways, demontrer, "
        "demostrar, dimostra, dimostrare, beweisen, odd numbers, even number, nombres impairs, nombre pair, "
        "numeros impares, rolls of, roll a die, odds of getting, chance of getting, resoudre, risolvi, "
        "risolvere, diagonal*, polygon*, decagon*, hexagon*, pentagon*, octagon*, cylinder*, sphere*, cone, "
        "prism*, parallelogram*, trapez*, calculat*, calcul*, berechn*, solve, solv*, resuelv*, resuelve, "
        "resolv*, resous, theorem*, teorema*, lemma, proof, prove, beweise, demuestra, demontre, montre que, "
        "show that, matrix, matrices, matriz, vector*, factor the, factors of, prime factor*, factoriz*, "
        "simplif*, integrate, limit of, expected value, variance, standard deviation, desviacion*, median, "
        "mediana, permut*, combination*, combinatori*, prime number*, divisib*, perimeter, perimetro, "
        "geometr*, triangle*, triangulo*, dreieck*, rectangle*, rectangulo*, radius, diameter, "
        "circumference, arithmetic, compound interest, compounded, geometric series, arithmetic series, "
        "infinite series, percent of, porcentaje, pourcentage, prozent, cuanto es, combien font, "
        "combien fait, quanto e, quanto fa, elevado, dividido, multiplicado, multiplied by, divided by, "
        "squared, cubed, to the power, por ciento, discount, original price, interest rate, sum from, "
        "evaluate the sum",
        1.0: "compute, computed, mean, average, promedio, media, moyenne, durchschnitt, fraction*, ratio, "
        "percent*, percentage, dice, coin*, area, aire, flache, volume, volumen, angle*, sum of, series, "
        "sequence, infinity, infinite, root, roots, raiz, wurzel, racine, square, cube, digits, integer*, "
        "rational, irrational, exponent*, formula*, formel, formule, km h, mph, interest, how much will, "
        "wie viel, dimensions, dimensiones, liters, litres, per hour, per week, convert, degrees, celsius, "
        "fahrenheit",
    },
    "reasoning": {
        3.0: "each own a different, each owns a different, lugt immer, sagt immer die wahrheit, "
        "miente siempre, dice siempre la verdad, ment toujours, dit toujours la verite, "
        "etiquettes sont fausses, etiquetas son falsas, etiketten sind falsch, labels are wrong, "
        "label is wrong, every label, mislabel*, telling the truth, each have a different, "
        "each has a different, jeweils ein anderes, jeweils einen anderen, jeweils eine andere, "
        "cada uno tiene un, chacun a un, casse tete, rompecabezas, quebra cabeca, denksport*, "
        "daraus schliessen, daraus folgern, kann man daraus, se puede concluir, peut on conclure, "
        "on peut conclure, pode se concluir, indovinell*, rompicapo*, raadsel*, puzzel*, charada*, "
        "adivinha*, si puo concludere, ne consegue, kan je concluderen, flaw in this argument, "
        "flaw in the argument, logical error, error in reasoning, what position, which position, what place, "
        "riddle*, puzzle*, acertijo*, adivinanza*, enigma*, enigme*, devinette*, ratsel*, brain teaser, "
        "logic puzzle, logical fallacy, fallac*, paradox*, paradoja*, paradoxe*, syllogism*, knights, "
        "knaves, always lies, always lie, tells the truth, tell the truth, can we conclude, does it follow, "
        "folgt daraus, se deduce, il s ensuit, explain your reasoning, lateral thinking, trick question, "
        "question piege, pregunta trampa, pergunta capciosa, domanda trabocchetto, fangfrage, strikvraag, "
        "it s a trick, reason it out, think it through, figure out which, work out which, qui a quoi, "
        "who has what",
        2.0: "next in the sequence, across a river, across the river, should you switch, who owns, "
        "contradict*, cross the river, cross a river, cross the bridge, cross a bridge, shortest time, "
        "minimum time, still solvable, is it solvable, must come before, must come after, comes before, "
        "comes after, immediately before, immediately after, directly before, directly after, not next to, "
        "sits next to, sit next to, how do you measure, how can you measure, how would you measure, "
        "what color is, which side, assumption*, hidden assumption, to be sure, guarantee*, guaranteed, "
        "worst case, at least how many, implies, claim, fastest way, quickest way, minimum number, "
        "least number, fewest, optimal strategy, measure exactly, explain the logic, explique la logique, "
        "explica la logica, erklare die logik, how can you, flaw*, fallacious, you pass, gives you, "
        "you have two, you have three, you are in a, you re in a, suppose you, how long do they last, "
        "logic*, logica*, logique*, logik*, deduc*, dedui*, infer*, reason step by step, step by step, "
        "paso a paso, etape par etape, schritt fur schritt, reasoning, razonamiento, raisonnement, "
        "begrunde*, begrundung, razona*, raisonne*, justify, justifie*, justifica*, think carefully, "
        "valid argument, argument valid, is this argument, premise*, conclusion*, conclude, must be true, "
        "must be false, necessarily, necessariamente verdadeira, necessariamente verdadeiro, "
        "necesariamente verdadera, necesariamente verdadero, necesariamente cierta, necessairement vraie, "
        "necessairement vrai, notwendigerweise wahr, muss wahr sein, necessariamente vera, who is lying, "
        "balance scale, counterintuitive, intuitive answer, what would happen if, what happens if, "
        "hypothetical*, thought experiment, trolley problem, dilemma*, constraint*, arrangement*, seating, "
        "liar*, figure out, work out, why or why not, get it wrong, what place, which weighs more, "
        "unprovable, contradiction*",
        1.5: "is lying, are lying, une seule fois, qu une seule fois, una sola vez, solo una vez, "
        "nur einmal, ein einziges mal, einziges mal, una sola volta, apenas uma vez, uma unica vez",
        1.0: "clue, clues, consistent, think, reason, why, true, false, valid, invalid, if, suppose, assume, "
        "assuming, imagine that, taller, shorter, older, younger, heavier, lighter, before, after, behind, "
        "front, who, which one, order, plan, strategy, possible, impossible, careful, carefully, only once, "
        "exactly one, trick",
    },
    "creative_writing": {
        3.0: "microrrelato*, flash fiction, microfiction, micro fiction, drabble*, eulog*, product page, "
        "landing page copy, texte d accroche, accroche, short and sweet, something to read out, lullab*, "
        "nursery rhyme*, make up a story, make up a song, make up a poem, poem*, poet*, poema*, poesia*, "
        "poeme*, poesie*, gedicht*, haiku*, haicai*, sonnet*, soneto*, limerick*, villanelle*, ballad*, "
        "lyrics, song lyrics, liedtext*, letra de una cancion, short story, bedtime story, horror story, "
        "love story, fairy tale, fairytale, once upon a time, screenplay*, slogan*, tagline*, jingle*, "
        "eulog*, cuento*, relato*, conte, contes, racconto*, conto, marchen*, fabel*, nouvelle, novela*, "
        "write a story, write me a story, tell me a story, write a song, write a poem, in the style of, "
        "in the voice of, point of view of, diary entry, product description, motivational speech, "
        "opening line*, first line*",
        2.0: "primera persona, first person, premiere personne, in der ich form, reescribelo, reescribe, "
        "rewrite it, rewrite this, discours, discurso, rede halten, toespraak, brindis, best man, "
        "maid of honor, gets laughs, get laughs, letra de, refrao, refrain, chorus, estribillo, ritornello, "
        "petit texte, kurzer text, texto corto, breve testo, story, stories, tale*, fable*, novel, novels, "
        "fiction*, narrative*, verse*, stanza*, rhym*, rima*, reim*, rap, song, songs, cancion*, chanson*, "
        "lied, canzone, cancao, myth*, legend*, fantasy, sci fi, scifi, noir, horror, dialogue*, dialog*, "
        "scene*, monologue*, plot twist, protagonist*, toast, wedding speech, speech, blog post, ad copy, "
        "caption*, poetic*, poetique, poetico, metaphor*, prose, ode, epic, saga, chapter*, historia, "
        "histoire, geschichte, storia, compose, invent, invente, inventa, erfinde, imagine a, character*, "
        "letter from, diary, journal entry, funny names, names for, valentine*, birthday card, "
        "greeting card, love letter, vows, wedding vows, joke*, chiste*, blague*, witz, witze, barzellett*, "
        "piada*, knock knock, pun, puns",
        1.0: "escribeme, escribime, escreve, erzahl*, make up, write, escribe, escribir, ecris, ecrire, "
        "redige*, schreib*, verfass*, scrivi, escreva, creative, creativ*, catchy, funny, heartfelt, "
        "romantic, birthday message, rewrite, reescribe, draft, pen, opening paragraph, twist, villain, "
        "hero, dragon, wizard, kingdom, galaxy, tweet, post, description, intro, introduction, title*, "
        "ideas for, moral, short, corto, courte, kurz*, cozy, spooky",
    },
    "roleplay": {
        3.0: "stell dir vor du bist, imagina que eres, imagine que tu es, immagina di essere, "
        "imagina que voce e, play my, i rolled, roll for, du bist ab jetzt, du bist jetzt, ab jetzt bist du, "
        "ab sofort bist du, tu es maintenant, a partir de maintenant tu es, a partir de ahora eres, "
        "ahora eres, d ora in poi sei, da ora sei, a partir de agora voce e, vanaf nu ben je, je bent nu, "
        "fingi di, fingiti, mach einen auf, interpreta a, interpreta al, interprete le role, "
        "interpretiere die rolle, debate conmigo, debate with me, argue with me, debats avec moi, roleplay*, "
        "role play*, role playing, pretend, pretending, act as, act like, simulate a, simulate an, "
        "simula un, simula una, simule un, simule une, simuliere, haz de, hazme de, actua como, actua, "
        "agis comme, fais semblant, joue le role, tu so als, spiel die rolle, spiele die rolle, "
        "rollenspiel*, juego de rol, jeu de role, fai finta, finja, finge, fingere, in character, "
        "stay in character, break character, play the role, take on the role, take on the persona, "
        "dungeon master, game master, text adventure, choose your own adventure, you are now, you re now, "
        "from now on you, imagine you are, imagine you re, imagine that you are, respond as if, reply as if, "
        "answer as if, answer in character, speak like, talk like, respond only as, incarne*, "
        "verhalte dich wie, interpreta el papel, hazte pasar, fais comme si, as if you were, como si fueras, "
        "comme si tu etais, als ob du, let s play a game, you re the narrator, you are the narrator",
        2.0: "stell dir vor, du bist mein, du bist meine, difficult conversation, thanks for having me, "
        "gesprach uben, gesprach zu uben, practice the conversation, practise the conversation, "
        "rehearse the conversation, i m your, i am your, soy tu, je suis ton, je suis ta, ich bin dein, "
        "ich bin deine, spiel einen, spiel eine, spiele einen, spiele eine, ich bin ein, ich bin eine, "
        "soy un, soy una, je suis un, je suis une, let s pretend, pretend we, persona, personaje, "
        "personnage, rolle, role, papel, character, npc, dnd, d d, tavern, barkeep, innkeeper, bartender, "
        "shopkeeper, you play, play a, play the, i ll be, i ll play, i will be, i m a, be my, you be, se mi, "
        "sois mon, sois ma, sei mein, simulate, simula*, mock interview, interview me, quest, adventurer*, "
        "adventure, let s play, narrator, you are an, you re an, tu es un, tu es une, eres un, eres una, "
        "du bist ein, du bist eine",
        1.0: "spielen, we re, we are, be a, be an, voice, sois un, sois une, se un, se una, you are a, "
        "you re a, you are my, you re my, sei un, pirate, pirat, wizard, knight, detective, detektiv, "
        "vampire, elf, captain, capitan, king, queen, princess, witch, sorcerer, ninja, samurai, cowboy, "
        "zombie, villain, butler, therapist, counselor, interviewer, landlord, customer, passenger, "
        "negotiation, mentor, apprentice, stranger, alien, santa, ghost, coach, sailor, marin, agent, "
        "accent",
    },
    "extraction": {
        3.0: "action items, action item, wypisz, extract*, extrae*, extraer, extraiga*, extrai*, extrahier*, "
        "estrai*, named entit*, pull out, pick out, part of speech, key value, key value pairs, fill in, "
        "fill out, get all the, grab the, grab all, list the names, list every, list all",
        2.0: "ip address*, ip adress*, take them out, take out the, from each line, from every line, "
        "liste moi, listez, liste chaque, sous forme de tableau, en forma de tabla, como tabla, "
        "in tabellenform, als tabelle, em forma de tabela, in forma di tabella, adresses e mail, "
        "adresse e mail, adresses email, e mail addresses, e mail address, presentes dans, present in this, "
        "une par ligne, one per line, uno por linea, una per riga, eine pro zeile, sans doublons, "
        "without duplicates, no duplicates, sin duplicados, ohne duplikate, get me every, get me all, "
        "give me every, give me all, are mentioned, is mentioned, in this sentence, in this email, "
        "in this article, in the following, detect*, detecta*, detecte*, erkenne, in a table, en una tabla, "
        "dans un tableau, in einer tabelle, stated, specified, de cada, for each, identifizier*, keyword*, "
        "schlusselwort*, palabras clave, mots cles, contains, it contains, tell me every, genannt, erwahnt*, "
        "mencion*, mentionn*, nommes, citad*, in diesem satz, in diesem text, en este texto, "
        "dans cette phrase, give me each, list each, number of times, transcript, pull every, pull all, "
        "pull the, out of this, names of, in this passage, in this paragraph, in this text, in this message, "
        "in this document, classif*, categoriz*, categoris*, clasific*, categor*, recupere, recupera, grab, "
        "parse, parsing, entities, entity, find all, find every, identify all, identify every, "
        "identify each, identify the, liste alle, lista todos, lista todas, liste tous, liste toutes, "
        "sacame, saca, notiere, fields, structured, json object, json array, as json, in json, into json, "
        "csv, tag each, label each, mentioned, mention*, listed in, appear in, appears in, aparecen, "
        "apparaissent, email address*, phone number*, telefonnummer*, only the, just the, return only, "
        "output only, as a table, into a table, schema, ner, from this, from the following, from the text, "
        "from this text, from this paragraph, from this message, from this email, from the email, "
        "from this list, aus diesem, aus dieser, de este texto, de ce texte, dans ce message, dans ce texte, "
        "who did what, with keys, turn this sentence into, turn this into json",
        1.0: "numa lista, em uma lista, en una lista, dans une liste, in einer liste, in een lijst, "
        "as a list, in a list, datas, valores, adresses, direcciones, indirizzi, enderecos, scadenze, "
        "vencimento*, vencimiento*, echeance*, json, every, scan, contains, resume, names, nombres, noms, "
        "namen, dates, fechas, datum, termine, amounts, importes, prices, quantities, numeros, numbers, ids, "
        "id, invoice, receipt, form, identify, list the, urls, links, hashtags, tickers, ticker*, skills, "
        "table, keys, values, raus, order id, tracking number, times, addresses, features, ingredients, "
        "zutaten",
    },
    "summarization": {
        3.0: "podsumuj*, streszcz*, sammanfatta*, samenvatting, compte rendu, need to know from it, "
        "catch me up, fill me in, bring me up to speed, get me up to speed, what did i miss, "
        "need to know from this, exec version, executive version, exec summary, the short of it, "
        "wichtigsten punkte, distill*, destila, resumeme, resumer, bottom line, minute read, read version, "
        "quick read, cliffnotes, cliff note, one liner summary, in a line, in one line, en una linea, "
        "en une ligne, in einer zeile, summar*, summaris*, tl dr, tldr, sum up, sum it up, gist, recap*, "
        "synops*, resum*, riassum*, riassunt*, samenvat*, vat samen, zusammenfass*, kurzfassung, "
        "fasse zusammen, key takeaways, main points, main ideas, main idea, key points, in a nutshell, "
        "boil down, boil this down, executive summary, puntos clave, ideas principales, points cles, "
        "kernpunkte, cliff notes, cliffs notes, make this shorter, make it shorter, shorten this, "
        "main message, short version, condense, highlights of",
        2.5: "resume",  # the exact word: an imperative in Spanish and French, a CV in English
        2.0: "handoff note, handover note, sentences max, words max, lines max, phrases max, frases max, "
        "satze max, shorter, concise, more concise, less wordy, stichpunkt*, fass, fasse, compress*, "
        "reduce this, essentials, essence, couple of sentences, few sentences, paragraph saying, "
        "article saying, text saying, it saying, email saying, this saying, en pocas lineas, condens*, "
        "shorten*, abridg*, takeaway*, sintetiz*, synthes*, abstract, overview, too long, didn t read, "
        "in one sentence, in two sentences, in three sentences, in one paragraph, in a few lines, "
        "en quelques lignes, in bullet points, in 100 words, in 50 words, few words, what does it say, "
        "what it says, en bref, das wichtigste, highlights, digest, keep only, what matters, briefly, "
        "brief summary, in short, en resumen, en pocas palabras, in wenigen satzen",
        1.0: "zusammen, brief*, breve, bullet*, sentences, short, shorter, quick, main, key, points, "
        "plain english, non technical, break down, outline, lines, words",
    },
    "translation": {
        3.0: "przetlumacz*, tlumacz*, oversatt*, vertal*, translat*, tradu*, ubersetz*, uebersetz*, "
        "vertaal*, how do you say, how would you say, how would i say, how to say, how do i say, "
        "como se dice, como se diz, comment dit on, comment on dit, comment dire, wie sagt man, wie heisst, "
        "come si dice, localiz*, localis*, lokalisier*, what s the word for, english equivalent, "
        "equivalent in, word for word, pasame esto al, pasa esto al",
        2.0: "mean in, means in, meaning in, version of this, word for, say this in, in other languages, "
        "pronounce, pronunciation, equivalent, write this in, put this in, render this into, "
        "right way to say",
        1.0: "phrase, sentence, word, expression, idiom*, formal, informal",
    },
    "analysis": {
        3.0: "analis*, vantagens e desvantagens, que te parece, que le parece, cosa ne pensi, che ne pensi, "
        "was meinst du, was halten sie, o que acha, o que voce acha, wat vind je, ci conviene, nos conviene, "
        "conviene di piu, make more sense, more sense, analy*, analiz*, analys*, pros and cons, "
        "pros y contras, pour et contre, vor und nachteile, swot, root cause*, sentiment*, "
        "strengths and weaknesses, advantages and disadvantages, ventajas y desventajas, implications, "
        "points forts, points faibles, puntos fuertes, puntos debiles, starken und schwachen, "
        "a favor y en contra, arguments for and against, make of these, make of this, what do you make of, "
        "makes more sense, which makes more sense, is it a good idea, es buena idea, wage die argumente, "
        "weigh the, was spricht, spricht dafur, spricht dagegen, dafur und dagegen, weak spots, weak points, "
        "schwachstellen, puntos flacos, punti deboli, most likely cause, most likely explanation, "
        "mas probable, plus probable, piu probabile, wahrscheinlichste, the theme of, themes of, symbolism, "
        "literary devices, how does the author, how does the poet",
        2.0: "best value, offers the best, the best option, does that change, change your recommendation, "
        "should be worried, red flag*, your thoughts, any thoughts, meglio, melhor, option a, option b, "
        "opcion a, opcion b, opzione a, change anything, cambia algo, change quelque chose, andert das, "
        "conviene, confronta, vantaggi e svantaggi, pro e contro, might explain, what might explain, "
        "explain the gap, would you test, how did the, how has the, invention of, lessons from, review*, "
        "persuasive, how persuasive, how effective, effectiveness, what s missing, what is missing, effet*, "
        "efecto*, effekt*, quels seraient, que pasaria, considerations, healthy, funnel, is it good, "
        "is this good, good enough, how well, what do you think of, what do you think about, que opinas, "
        "que piensas de, qu en penses, was haltst du, your opinion, your take, frente a, estrateg*, "
        "strategie*, lessons, learn from, behind it, behind this, dig into, dig deeper, root of, "
        "what could explain, what explains, dropped, declined, decline, fell, spike*, compar*, contrast*, "
        "vergleich*, evaluat*, evalu*, assess*, bewert*, beurteil*, critique*, critic, critics, criticism, "
        "criticise*, criticize*, examine*, examin*, interpret*, implication*, impact*, impacto, auswirkung*, "
        "consequence*, consecuencia*, trend*, insight*, trade off*, tradeoff*, advantag*, disadvantag*, "
        "ventaja*, desventaja*, avantage*, inconvenient*, vorteil*, nachteil*, which is better, stand out, "
        "stands out, weigh, balanced, versus, vs, landscape, themes, drivers, risk*, riesgo*, risque*, "
        "discuss*, discute, diskutier*, erorter*, pattern*, should we, should our, should i, worth it, "
        "good idea, likely reasons, investigate, argument*, inwiefern, fits better, better fit, affect, "
        "effect on, effects of, influence*, realistic, realista, realistisch, realiste, realistico, "
        "tendencia*, tendance*, tendenz*, tendenze, what do you see, que ves, which would you pick, "
        "which would you choose, would you pick, would you choose, is it worth, vale la pena, vaut le coup, "
        "lohnt sich, lohnt es sich, going wrong, possible causes, posibles causas, causes possibles, "
        "mogliche ursachen",
        1.0: "thoughts, gap, industry, change the, changed the, quarter, rose, increased, decreased, drop, "
        "dip, nps, retention, engagement, classify, data, dataset, metrics, kpi, kpis, revenue, sales, "
        "churn, conversion, growth, market*, competit*, strateg*, correlat*, evidence, explanations, decide, "
        "decision*, better, worse, benefits, drawbacks, break down, breakdown, survey, results, forecast*, "
        "numbers, consider, considering, factors, causes, why, reasons, both sides, short and long term, "
        "long term, adopt, invest*, economy, economic, political, politics, society, social, recommend*, "
        "empfehl*, recomend*, recomiend*, recommand*, raccomand*, aanbevel*, causa, causas, cause, ursache*",
    },
    "question_answering": {
        2.0: "based on the passage, according to the passage, based on the text, according to the text, "
        "segun el texto, d apres le texte, laut dem text, secondo il testo, define, definition, definicion, "
        "meaning of, what does the word, capital of, what year, in what year, en que ano, who invented, "
        "who discovered, who wrote, who painted, who was the, who is the, stand for, stands for, is it true, "
        "what causes, que significa, que veut dire, was bedeutet, c est quoi, qu est ce que, was ist, "
        "how does it work, wie funktioniert, como funciona, comment fonctionne",
        1.0: "combien, cuantos, cuantas, wie viele, quantos, quante, how many, what language, spoken, "
        "what is, what are, what was, what were, what s the, who, when, where, how does, how do, how did, "
        "why is, why are, why do, why does, which, explain, tell me about, what does, difference between, "
        "difference, diferencia, unterschied, how long, how far, how old, how big, how tall, how much is, "
        "population, used for, que es, quien, cuando, donde, cual, por que, quel, quelle, quels, qui, quand, "
        "ou se trouve, ou est, pourquoi, wer, wann, wo, warum, wieso, welche, welcher, chi, quando, dove, "
        "perche, qual, quem, onde, fact*, history of, current, born, located",
    },
    "general_chat": {
        3.0: "how s your day, how was your day, how is your day, was geht, me aburro, je m ennuie, "
        "mi annoio, estou entediado, estou entediada, need to vent, just venting, let me vent, to vent, "
        "rough day, bad day, what about you, how about you, ben jij, ben je een, are you a bot, "
        "are you real, echt persoon, real person, keep me company, hallo zusammen, oi, tudo certo, "
        "checking in, how s everything, on your end, guess what, long time no see, how are you, how re you, "
        "how s it going, how is it going, how have you been, how are things, how you doing, how s life, "
        "what s up, whats up, wassup, what s good, what are you up to, que tal, que onda, como va, "
        "como estas, ca va, ca roule, tu vas bien, vous allez bien, comment vas tu, comment allez vous, "
        "wie geht, alles klar, alles gut, come stai, come va, tudo bem, nice to meet, good morning, "
        "good night, good evening, good afternoon, buenos dias, buenas noches, buenas tardes, bonne journee, "
        "bonne soiree, bonne nuit, guten morgen, guten abend, gute nacht, guten tag, did you miss me, "
        "miss me, someone to talk to",
        2.0: "langweilig, aburrido, aburrida, erzahl mal, y tu, et toi, und du, e tu, e voce, en jij, hoi, "
        "goedemorgen, goedenavond, hej, czesc, dzien dobry, bedankt, dank je, dankjewel, tack, meh, "
        "how s yours, and yours, remember me, wochenende, fin de semana, bon week end, schones wochenende, "
        "buen finde, euch allen, hi, hello, hey, heyy, heyyy, hiya, howdy, yo, sup, hola, buenas, bonjour, "
        "bonsoir, salut, coucou, hallo, moin, servus, ciao, ola, thanks, thank, thx, ty, gracias, merci, "
        "danke, grazie, obrigado, obrigada, appreciate it, bye, goodbye, cheers, see you, talk tomorrow, "
        "talk later, lol, lmao, haha*, hehe, jaja*, jeje*, mdr, ptdr, kkkk*, bored, lonely, cheer me up, "
        "just chat, talk to me, your favorite, your favourite, do you like, about yourself, i m back, "
        "great help, you re funny, you re welcome, have a nice, have a good",
        1.0: "ugh, vent, long day, nervous, anxious, worried, stressed, scared, excited, sad, proud, "
        "what a day, feeling, i feel, i m feeling, happy, tired, fatigue, my day, weekend, chilling, ok, "
        "okay, cool, nice, great, awesome, wow, fun, chat, talk, are you, do you, how about you, and you, "
        "favorite, favourite, long day, my friend, honestly, right now, can t sleep, na, moi, just wanted, "
        "so much",
    },
}

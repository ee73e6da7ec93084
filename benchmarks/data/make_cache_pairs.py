"""Builds cache_pairs.tsv, the labelled set for `llm-router cache eval` and `python -m benchmarks cache`.

Columns: a, b, same (1: serving a's answer for b is right; 0: it would be wrong), langs (e.g. en-zh).
Hand-written: paraphrases, cross-lingual translations (zh, es, de, fr) and near-misses that must not hit
(different entity, number, language direction, negation, opposite meaning), plus unrelated pairs.
Run: python benchmarks/data/make_cache_pairs.py  (rewrites cache_pairs.tsv next to this file)."""

from __future__ import annotations

import csv
from pathlib import Path

Pair = tuple[str, str, int, str]
pairs: list[Pair] = []


def add(a: str, b: str, same: int, langs: str) -> None:
    pairs.append((a, b, same, langs))


# --- 1. capitals: one question in five languages, for ten countries -------------------------------------
CAPITALS = {
    "France": (
        "法国的首都是哪里？",
        "¿Cuál es la capital de Francia?",
        "Was ist die Hauptstadt von Frankreich?",
        "Quelle est la capitale de la France ?",
    ),
    "Germany": (
        "德国的首都是哪里？",
        "¿Cuál es la capital de Alemania?",
        "Was ist die Hauptstadt von Deutschland?",
        "Quelle est la capitale de l'Allemagne ?",
    ),
    "Spain": (
        "西班牙的首都是哪里？",
        "¿Cuál es la capital de España?",
        "Was ist die Hauptstadt von Spanien?",
        "Quelle est la capitale de l'Espagne ?",
    ),
    "Italy": (
        "意大利的首都是哪里？",
        "¿Cuál es la capital de Italia?",
        "Was ist die Hauptstadt von Italien?",
        "Quelle est la capitale de l'Italie ?",
    ),
    "Japan": (
        "日本的首都是哪里？",
        "¿Cuál es la capital de Japón?",
        "Was ist die Hauptstadt von Japan?",
        "Quelle est la capitale du Japon ?",
    ),
    "Brazil": (
        "巴西的首都是哪里？",
        "¿Cuál es la capital de Brasil?",
        "Was ist die Hauptstadt von Brasilien?",
        "Quelle est la capitale du Brésil ?",
    ),
    "Canada": (
        "加拿大的首都是哪里？",
        "¿Cuál es la capital de Canadá?",
        "Was ist die Hauptstadt von Kanada?",
        "Quelle est la capitale du Canada ?",
    ),
    "Egypt": (
        "埃及的首都是哪里？",
        "¿Cuál es la capital de Egipto?",
        "Was ist die Hauptstadt von Ägypten?",
        "Quelle est la capitale de l'Égypte ?",
    ),
    "India": (
        "印度的首都是哪里？",
        "¿Cuál es la capital de India?",
        "Was ist die Hauptstadt von Indien?",
        "Quelle est la capitale de l'Inde ?",
    ),
    "Australia": (
        "澳大利亚的首都是哪里？",
        "¿Cuál es la capital de Australia?",
        "Was ist die Hauptstadt von Australien?",
        "Quelle est la capitale de l'Australie ?",
    ),
}
countries = list(CAPITALS)
for i, country in enumerate(countries):
    en = f"What is the capital of {country}?"
    zh, es, de, fr = CAPITALS[country]
    add(en, f"Which city is the capital of {country}?", 1, "en-en")
    add(en, zh, 1, "en-zh")
    add(en, es, 1, "en-es")
    add(en, de, 1, "en-de")
    add(en, fr, 1, "en-fr")
    other = countries[(i + 1) % len(countries)]
    ozh, oes, ode, ofr = CAPITALS[other]
    add(en, f"What is the capital of {other}?", 0, "en-en")
    add(en, ozh, 0, "en-zh")
    add(en, [oes, ode, ofr][i % 3], 0, ["en-es", "en-de", "en-fr"][i % 3])

# --- 2. learning a programming language ------------------------------------------------------------------
LEARN = {
    "Python": ("Python入门方法", "¿Cómo aprender Python?", "Wie lernt man Python?", "Comment apprendre Python ?"),
    "Rust": ("如何学习Rust？", "¿Cómo aprender Rust?", "Wie lernt man Rust?", "Comment apprendre Rust ?"),
    "JavaScript": (
        "怎么学JavaScript？",
        "¿Cómo aprender JavaScript?",
        "Wie lernt man JavaScript?",
        "Comment apprendre JavaScript ?",
    ),
    "Java": ("Java怎么入门？", "¿Cómo aprender Java?", "Wie lernt man Java?", "Comment apprendre Java ?"),
    "Go": ("Go语言怎么学？", "¿Cómo aprender Go?", "Wie lernt man Go?", "Comment apprendre Go ?"),
    "Kotlin": ("如何学习Kotlin？", "¿Cómo aprender Kotlin?", "Wie lernt man Kotlin?", "Comment apprendre Kotlin ?"),
}
langs = list(LEARN)
for i, lang in enumerate(langs):
    en = f"How to learn {lang}"
    zh, es, de, fr = LEARN[lang]
    add(en, f"What is the best way to learn {lang}?", 1, "en-en")
    add(en, zh, 1, "en-zh")
    add(en, es, 1, "en-es")
    add(en, de, 1, "en-de")
    add(en, fr, 1, "en-fr")
    other = langs[(i + 1) % len(langs)]
    add(en, f"How to learn {other}", 0, "en-en")
    add(en, LEARN[other][0], 0, "en-zh")

# --- 3. weather in a city --------------------------------------------------------------------------------
WEATHER = {
    "Paris": (
        "巴黎明天天气怎么样？",
        "¿Qué tiempo hará mañana en París?",
        "Wie wird das Wetter morgen in Paris?",
        "Quel temps fera-t-il demain à Paris ?",
    ),
    "Berlin": (
        "柏林明天天气怎么样？",
        "¿Qué tiempo hará mañana en Berlín?",
        "Wie wird das Wetter morgen in Berlin?",
        "Quel temps fera-t-il demain à Berlin ?",
    ),
    "Tokyo": (
        "东京明天天气怎么样？",
        "¿Qué tiempo hará mañana en Tokio?",
        "Wie wird das Wetter morgen in Tokio?",
        "Quel temps fera-t-il demain à Tokyo ?",
    ),
    "Madrid": (
        "马德里明天天气怎么样？",
        "¿Qué tiempo hará mañana en Madrid?",
        "Wie wird das Wetter morgen in Madrid?",
        "Quel temps fera-t-il demain à Madrid ?",
    ),
    "London": (
        "伦敦明天天气怎么样？",
        "¿Qué tiempo hará mañana en Londres?",
        "Wie wird das Wetter morgen in London?",
        "Quel temps fera-t-il demain à Londres ?",
    ),
}
cities = list(WEATHER)
for i, city in enumerate(cities):
    en = f"What will the weather be like in {city} tomorrow?"
    zh, es, de, fr = WEATHER[city]
    add(en, zh, 1, "en-zh")
    add(en, es, 1, "en-es")
    add(en, de, 1, "en-de")
    add(en, fr, 1, "en-fr")
    other = cities[(i + 2) % len(cities)]
    add(en, f"What will the weather be like in {other} tomorrow?", 0, "en-en")
    add(en, WEATHER[other][i % 4], 0, ["en-zh", "en-es", "en-de", "en-fr"][i % 4])

# --- 4. numbers ------------------------------------------------------------------------------------------
NUMBERS_SAME = [
    ("What is 15% of 200?", "Calculate 15 percent of 200"),
    ("Convert 5 km to miles", "Convert 5 kilometres into miles"),
    ("How many days are in 3 weeks?", "Number of days in 3 weeks?"),
    ("What is 12 times 8?", "Multiply 12 by 8"),
    ("Is 97 a prime number?", "Is the number 97 prime?"),
    ("What is the square root of 144?", "Square root of 144?"),
    ("Convert 100 USD to EUR", "How much is 100 USD in EUR?"),
    ("What year did World War 2 end?", "In which year did World War 2 end?"),
    ("How many seconds are in 2 hours?", "2 hours is how many seconds?"),
    ("What is 7 plus 5?", "Add 7 and 5"),
]
NUMBERS_DIFF = [
    ("What is 15% of 200?", "What is 15% of 300?"),
    ("What is 15% of 200?", "What is 20% of 200?"),
    ("Convert 5 km to miles", "Convert 10 km to miles"),
    ("How many days are in 3 weeks?", "How many days are in 4 weeks?"),
    ("What is 12 times 8?", "What is 12 times 9?"),
    ("Is 97 a prime number?", "Is 91 a prime number?"),
    ("What is the square root of 144?", "What is the square root of 169?"),
    ("Convert 100 USD to EUR", "Convert 1000 USD to EUR"),
    ("What happened in 1969?", "What happened in 1989?"),
    ("How many seconds are in 2 hours?", "How many seconds are in 3 hours?"),
    ("What is 7 plus 5?", "What is 7 plus 6?"),
    ("Set a timer for 10 minutes", "Set a timer for 15 minutes"),
    ("Recipe for 4 people", "Recipe for 6 people"),
    ("Is a 5% raise good?", "Is a 50% raise good?"),
    ("What is the boiling point of water at 2000 meters?", "What is the boiling point of water at 3000 meters?"),
]
for a, b in NUMBERS_SAME:
    add(a, b, 1, "en-en")
for a, b in NUMBERS_DIFF:
    add(a, b, 0, "en-en")
add("What is 15% of 200?", "200的15%是多少？", 1, "en-zh")
add("What is 15% of 200?", "300的15%是多少？", 0, "en-zh")
add("Convert 5 km to miles", "Convierte 5 km a millas", 1, "en-es")
add("Convert 5 km to miles", "Convierte 8 km a millas", 0, "en-es")
add("How many days are in 3 weeks?", "Wie viele Tage haben 3 Wochen?", 1, "en-de")
add("How many days are in 3 weeks?", "Wie viele Tage haben 5 Wochen?", 0, "en-de")
add("What is 12 times 8?", "Combien font 12 fois 8 ?", 1, "en-fr")
add("What is 12 times 8?", "Combien font 12 fois 7 ?", 0, "en-fr")

# --- 5. language direction -------------------------------------------------------------------------------
DIRECTION = [
    ("Translate 'good morning' from English to French", "Translate 'good morning' from French to English"),
    ("Translate this sentence from Spanish to German", "Translate this sentence from German to Spanish"),
    (
        "How do I say thank you in Japanese if I speak English?",
        "How do I say thank you in English if I speak Japanese?",
    ),
    ("Convert 30 Celsius to Fahrenheit", "Convert 30 Fahrenheit to Celsius"),
    ("Convert 10 km to miles", "Convert 10 miles to km"),
    ("Exchange rate from dollar to euro", "Exchange rate from euro to dollar"),
    ("Flights from Paris to Berlin", "Flights from Berlin to Paris"),
    ("Train from London to Paris", "Train from Paris to London"),
    ("Translate 'cat' from English to Chinese", "Translate 'cat' from Chinese to English"),
    ("Distance from Madrid to Barcelona by car", "Driving time from Barcelona to Madrid"),
]
for a, b in DIRECTION:
    add(a, b, 0, "en-en")
add("Translate 'good morning' from English to French", "把'good morning'从英语翻译成法语", 1, "en-zh")
add("Translate 'good morning' from English to French", "把'good morning'从法语翻译成英语", 0, "en-zh")
add("Translate this sentence from Spanish to German", "Traduce esta frase del español al alemán", 1, "en-es")
add("Translate this sentence from Spanish to German", "Traduce esta frase del alemán al español", 0, "en-es")
add("Flights from Paris to Berlin", "Flüge von Paris nach Berlin", 1, "en-de")
add("Flights from Paris to Berlin", "Flüge von Berlin nach Paris", 0, "en-de")
add("Train from London to Paris", "Train de Londres à Paris", 1, "en-fr")
add("Train from London to Paris", "Train de Paris à Londres", 0, "en-fr")
add(
    "Translate 'good morning' from English to French",
    "How do I translate 'good morning' from English to French?",
    1,
    "en-en",
)

# --- 6. negation -----------------------------------------------------------------------------------------
NEGATION = [
    ("Which foods contain gluten?", "Which foods do not contain gluten?"),
    ("Why does my code compile?", "Why does my code not compile?"),
    ("Can dogs eat chocolate?", "Why can't dogs eat chocolate?"),
    ("Is coffee healthy?", "Is coffee not healthy?"),
    ("Things to do in Paris with kids", "Things to do in Paris without kids"),
    ("How to sleep with noise", "How to sleep without noise"),
    ("Cars that use diesel", "Cars that do not use diesel"),
    ("Which countries use the euro?", "Which countries do not use the euro?"),
    ("Why is my phone charging?", "Why is my phone not charging?"),
    ("Recipes with eggs", "Recipes without eggs"),
]
for a, b in NEGATION:
    add(a, b, 0, "en-en")
add("Which foods contain gluten?", "哪些食物不含麸质？", 0, "en-zh")
add("Which foods contain gluten?", "哪些食物含有麸质？", 1, "en-zh")
add("Which countries use the euro?", "¿Qué países no usan el euro?", 0, "en-es")
add("Which countries use the euro?", "¿Qué países usan el euro?", 1, "en-es")
add("Recipes with eggs", "Rezepte ohne Eier", 0, "en-de")
add("Recipes with eggs", "Rezepte mit Eiern", 1, "en-de")
add("Why is my phone charging?", "Pourquoi mon téléphone ne charge-t-il pas ?", 0, "en-fr")

# --- 7. opposite meaning ---------------------------------------------------------------------------------
OPPOSITE = [
    ("How do I enable two-factor authentication?", "How do I disable two-factor authentication?"),
    ("How to install Docker on Ubuntu", "How to uninstall Docker on Ubuntu"),
    ("How to increase my credit score", "How to decrease my credit score"),
    ("Best time to buy a car", "Best time to sell a car"),
    ("How do I upload files to Google Drive?", "How do I download files from Google Drive?"),
    ("How to encrypt a PDF", "How to decrypt a PDF"),
    ("What is the boiling point of water?", "What is the freezing point of water?"),
    ("Advantages of remote work", "Disadvantages of remote work"),
    ("What is the largest planet?", "What is the smallest planet?"),
    ("How to export contacts from my phone", "How to import contacts to my phone"),
    ("Best movies of 2010", "Worst movies of 2010"),
    ("How to start a Docker container", "How to stop a Docker container"),
]
for a, b in OPPOSITE:
    add(a, b, 0, "en-en")
add("How do I enable two-factor authentication?", "如何禁用双重认证？", 0, "en-zh")
add("How do I enable two-factor authentication?", "如何启用双重认证？", 1, "en-zh")
add("How to install Docker on Ubuntu", "¿Cómo desinstalar Docker en Ubuntu?", 0, "en-es")
add("How to install Docker on Ubuntu", "¿Cómo instalar Docker en Ubuntu?", 1, "en-es")
add("Advantages of remote work", "Nachteile der Fernarbeit", 0, "en-de")
add("Advantages of remote work", "Vorteile der Fernarbeit", 1, "en-de")
add("Best time to buy a car", "Meilleur moment pour vendre une voiture", 0, "en-fr")
add("Best time to buy a car", "Meilleur moment pour acheter une voiture", 1, "en-fr")

# --- 8. other entities (same question, other subject) -----------------------------------------------------
ENTITY = [
    ("How long do cats live?", "How long do dogs live?"),
    ("How to install Python on Windows", "How to install Python on Mac"),
    ("What do rabbits eat?", "What do parrots eat?"),
    ("How far is Mars from the Sun?", "How far is Venus from the Sun?"),
    ("How to connect to PostgreSQL from Python", "How to connect to MySQL from Python"),
    ("How to read a CSV file in Python", "How to read a CSV file in Java"),
    ("Is tea bad for sleep?", "Is coffee bad for sleep?"),
    ("How to cook rice", "How to cook pasta"),
    ("Best restaurants in Rome", "Best restaurants in Paris"),
    ("Population of Shanghai", "Population of Beijing"),
    ("How to reset an iPhone", "How to reset an Android phone"),
    ("How to deploy a React app with Docker", "How to deploy a React app with Kubernetes"),
]
for a, b in ENTITY:
    add(a, b, 0, "en-en")
add("How long do cats live?", "狗能活多久？", 0, "en-zh")
add("How long do cats live?", "猫能活多久？", 1, "en-zh")
add("What do rabbits eat?", "¿Qué comen los loros?", 0, "en-es")
add("What do rabbits eat?", "¿Qué comen los conejos?", 1, "en-es")
add("How to cook rice", "Wie kocht man Nudeln?", 0, "en-de")
add("How to cook rice", "Wie kocht man Reis?", 1, "en-de")
add("Best restaurants in Rome", "Meilleurs restaurants à Paris", 0, "en-fr")
add("Best restaurants in Rome", "Meilleurs restaurants à Rome", 1, "en-fr")

# --- 9. free paraphrases (en) ----------------------------------------------------------------------------
PARAPHRASES = [
    ("How do I reset my password?", "What's the procedure to reset my password?"),
    ("How can I improve my sleep?", "What are some ways to sleep better?"),
    ("What is machine learning?", "Can you explain what machine learning is?"),
    ("How do I make a cup of tea?", "What's the way to make a cup of tea?"),
    ("What are the symptoms of the flu?", "What symptoms does the flu cause?"),
    ("How do I change a flat tire?", "Steps to change a flat tire"),
    ("Tips for a job interview", "How should I prepare for a job interview?"),
    ("What is photosynthesis?", "Explain photosynthesis"),
    ("How to write a cover letter", "How do I write a good cover letter?"),
    ("Why is the sky blue?", "What makes the sky blue?"),
    ("How do vaccines work?", "Explain how vaccines work"),
    ("What is a black hole?", "Can you tell me what a black hole is?"),
    ("How do I merge two branches in Git?", "How to merge two Git branches"),
    ("How to center a div in CSS", "How do I center a div with CSS?"),
    ("What causes inflation?", "Why does inflation happen?"),
    ("How to lose weight safely", "What is a safe way to lose weight?"),
    ("How do I start running?", "Tips for beginning to run"),
    ("What is the meaning of life?", "What's the purpose of life?"),
    ("How to reverse a list in Python", "How do I reverse a Python list?"),
    ("How does a credit card work?", "Explain how credit cards work"),
    ("What is the speed of light?", "How fast does light travel?"),
    ("How to remove a coffee stain", "How do I get a coffee stain out?"),
    ("What are good books for beginners in economics?", "Recommend beginner economics books"),
    ("How do I meditate?", "How to start meditating"),
    ("How do airplanes fly?", "Explain how planes stay in the air"),
    ("Ways to save money on groceries", "How can I spend less on groceries?"),
    ("What is the difference between a virus and bacteria?", "How do viruses differ from bacteria?"),
    ("How to make a website", "How do I build a website?"),
    ("Why do cats purr?", "What makes cats purr?"),
    ("How to negotiate a salary", "Tips for salary negotiation"),
    ("What is blockchain?", "Explain blockchain technology"),
    ("How to get rid of hiccups", "How do I stop hiccups?"),
    ("How long should I boil an egg?", "How many minutes to boil an egg?"),
    ("What is the best way to learn a new language?", "How can I learn a foreign language effectively?"),
    ("How do I clean my laptop keyboard?", "Cleaning a laptop keyboard"),
    ("Explain recursion", "What is recursion in programming?"),
    ("How to deal with stress at work", "Managing work stress"),
    ("What does a product manager do?", "What is the role of a product manager?"),
    ("How to grow tomatoes", "Tips for growing tomatoes"),
    ("What is an API?", "Explain what an API is"),
]
for a, b in PARAPHRASES:
    add(a, b, 1, "en-en")

# --- 10. free cross-lingual paraphrases --------------------------------------------------------------------
CROSS = [
    ("How do I reset my password?", "我怎么重置密码？", "en-zh"),
    ("Why is the sky blue?", "天空为什么是蓝色的？", "en-zh"),
    ("What is machine learning?", "什么是机器学习？", "en-zh"),
    ("How do vaccines work?", "疫苗是如何起作用的？", "en-zh"),
    ("How can I improve my sleep?", "如何改善睡眠？", "en-zh"),
    ("How to write a cover letter", "¿Cómo escribir una carta de presentación?", "en-es"),
    ("What is photosynthesis?", "¿Qué es la fotosíntesis?", "en-es"),
    ("How to lose weight safely", "¿Cómo perder peso de forma segura?", "en-es"),
    ("What causes inflation?", "¿Qué causa la inflación?", "en-es"),
    ("How do airplanes fly?", "¿Cómo vuelan los aviones?", "en-es"),
    ("What is a black hole?", "Was ist ein schwarzes Loch?", "en-de"),
    ("How do I change a flat tire?", "Wie wechsle ich einen platten Reifen?", "en-de"),
    ("Tips for a job interview", "Tipps für ein Vorstellungsgespräch", "en-de"),
    ("How to grow tomatoes", "Wie baut man Tomaten an?", "en-de"),
    ("What is blockchain?", "Was ist Blockchain?", "en-de"),
    ("How do I meditate?", "Comment méditer ?", "en-fr"),
    ("What are the symptoms of the flu?", "Quels sont les symptômes de la grippe ?", "en-fr"),
    ("How to make a website", "Comment créer un site web ?", "en-fr"),
    ("Why do cats purr?", "Pourquoi les chats ronronnent-ils ?", "en-fr"),
    ("How to negotiate a salary", "Comment négocier un salaire ?", "en-fr"),
]
for a, b, lg in CROSS:
    add(a, b, 1, lg)

# --- 11. unrelated -----------------------------------------------------------------------------------------
UNRELATED = [
    ("How do I reset my password?", "What is the capital of Japan?"),
    ("Why is the sky blue?", "How to cook pasta"),
    ("What is machine learning?", "Best hiking trails in Colorado"),
    ("How to write a cover letter", "What do rabbits eat?"),
    ("Tips for a job interview", "How far is the Moon?"),
    ("How to center a div in CSS", "How to grow tomatoes"),
    ("What causes inflation?", "Why do cats purr?"),
    ("How do I meditate?", "Convert 100 USD to EUR"),
    ("What is an API?", "How to remove a coffee stain"),
    ("How do airplanes fly?", "Recipes with eggs"),
]
for a, b in UNRELATED:
    add(a, b, 0, "en-en")
add("How do I reset my password?", "今天北京天气怎么样？", 0, "en-zh")
add("What is photosynthesis?", "¿Cómo aprender Rust?", 0, "en-es")
add("What is a black hole?", "Wie kocht man Reis?", 0, "en-de")
add("How do I meditate?", "Quelle est la capitale du Canada ?", 0, "en-fr")

# --- 12. related but different questions (same topic, other ask) ---------------------------------------------
RELATED = [
    ("How do I reset my password?", "How do I change my username?"),
    ("What is machine learning?", "What is deep learning?"),
    ("How to cook rice", "How to store cooked rice"),
    ("What are the symptoms of the flu?", "How long does the flu last?"),
    ("How do I merge two branches in Git?", "How do I delete a branch in Git?"),
    ("What is the capital of France?", "What is the population of France?"),
    ("How to learn Python", "How to install Python"),
    ("Why is the sky blue?", "Why is the sea blue?"),
    ("How do vaccines work?", "Are vaccines safe?"),
    ("How to write a cover letter", "How to write a resignation letter"),
]
for a, b in RELATED:
    add(a, b, 0, "en-en")
RELATED_CROSS = [
    ("How to learn Python", "如何安装Python？", "en-zh"),
    ("What is machine learning?", "什么是深度学习？", "en-zh"),
    ("How do I reset my password?", "我怎么修改用户名？", "en-zh"),
    ("What are the symptoms of the flu?", "流感会持续多久？", "en-zh"),
    ("How to cook rice", "¿Cómo guardar el arroz cocido?", "en-es"),
    ("How do vaccines work?", "¿Son seguras las vacunas?", "en-es"),
    ("What is the capital of France?", "Wie viele Einwohner hat Frankreich?", "en-de"),
    ("How to write a cover letter", "Wie schreibt man ein Kündigungsschreiben?", "en-de"),
    ("Why is the sky blue?", "Pourquoi la mer est-elle bleue ?", "en-fr"),
    ("How do I merge two branches in Git?", "Comment supprimer une branche dans Git ?", "en-fr"),
]
for a, b, lg in RELATED_CROSS:
    add(a, b, 0, lg)


def main() -> None:
    out = Path(__file__).with_name("cache_pairs.tsv")
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["a", "b", "same", "langs"])
        for row in pairs:
            w.writerow(row)
    same = sum(p[2] for p in pairs)
    cross = sum(1 for p in pairs if p[2] == 1 and p[3].split("-")[0] != p[3].split("-")[1])
    print(f"{out}: {len(pairs)} pairs, {same} same (of which {cross} cross-lingual), {len(pairs) - same} different")


if __name__ == "__main__":
    main()

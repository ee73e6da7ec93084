"""Small multilingual lexicon (en, zh, es, de, fr) used by the cache's precision stage.

ENTITIES map surface forms to one canonical id, so "France", "法国", "Francia", "Frankreich" are the same
entity and "France" vs "Germany" are not. POLARITY maps contrastive words to (concept, sign), so "enable" and
"禁用" (disable) disagree. NEGATIONS are per-language cues. Forms starting with "=" match case-sensitively
(e.g. "=Go", the programming language, not the verb). Extend freely; the eval set measures the effect."""

from __future__ import annotations

ENTITIES: dict[str, list[str]] = {
    # countries
    "country:france": ["France", "法国", "Francia", "Frankreich"],
    "country:germany": ["Germany", "德国", "Alemania", "Deutschland", "Allemagne"],
    "country:spain": ["Spain", "西班牙", "España", "Spanien", "Espagne"],
    "country:italy": ["Italy", "意大利", "Italia", "=Italien", "Italie"],  # German noun, capitalised
    "country:japan": ["Japan", "日本", "Japón", "Japon"],
    "country:china": ["China", "中国", "Chine"],
    "country:brazil": ["Brazil", "巴西", "Brasil", "Brasilien", "Brésil"],
    "country:canada": ["Canada", "加拿大", "Canadá", "Kanada"],
    "country:egypt": ["Egypt", "埃及", "Egipto", "Ägypten", "Égypte"],
    "country:india": ["India", "印度", "Indien", "Inde"],
    "country:mexico": ["Mexico", "墨西哥", "México", "Mexiko", "Mexique"],
    "country:australia": ["Australia", "澳大利亚", "澳洲", "Australien", "Australie"],
    "country:russia": ["Russia", "俄罗斯", "Rusia", "Russland", "Russie"],
    "country:usa": ["United States", "USA", "美国", "Estados Unidos", "Vereinigte Staaten", "États-Unis"],
    "country:uk": ["United Kingdom", "UK", "Britain", "英国", "Reino Unido", "Großbritannien", "Royaume-Uni"],
    "country:portugal": ["Portugal", "葡萄牙"],
    "country:korea": ["South Korea", "Korea", "韩国", "Corea del Sur", "Südkorea", "Corée du Sud"],
    "country:argentina": ["Argentina", "阿根廷", "Argentinien", "Argentine"],
    # cities
    "city:paris": ["Paris", "巴黎", "París"],
    "city:berlin": ["Berlin", "柏林", "Berlín"],
    "city:madrid": ["Madrid", "马德里"],
    "city:tokyo": ["Tokyo", "东京", "Tokio"],
    "city:beijing": ["Beijing", "北京", "Pekín", "Peking", "Pékin"],
    "city:london": ["London", "伦敦", "Londres"],
    "city:rome": ["Rome", "罗马", "Roma", "Rom"],
    "city:new-york": ["New York", "纽约", "Nueva York"],
    "city:shanghai": ["Shanghai", "上海", "Shanghái"],
    "city:sydney": ["Sydney", "悉尼", "Sídney"],
    "city:barcelona": ["Barcelona", "巴塞罗那", "Barcelone"],
    "city:munich": ["Munich", "慕尼黑", "Múnich", "München"],
    # natural languages
    "lang:english": ["English", "英语", "英文", "inglés", "Englisch", "anglais"],
    "lang:french": ["French", "法语", "法文", "francés", "Französisch", "français"],
    "lang:german": ["German", "德语", "德文", "alemán", "Deutsch", "allemand"],
    "lang:spanish": ["Spanish", "西班牙语", "西班牙文", "español", "Spanisch", "espagnol"],
    "lang:chinese": ["Chinese", "中文", "汉语", "chino", "Chinesisch", "chinois"],
    "lang:japanese": ["Japanese", "日语", "日文", "japonés", "Japanisch", "japonais"],
    "lang:italian": ["Italian", "意大利语", "italiano", "Italienisch", "=italien"],  # French, lower case
    # programming languages and tools
    "tech:python": ["Python"],
    "tech:rust": ["Rust"],
    "tech:go": ["=Go", "Golang"],
    "tech:javascript": ["JavaScript", "JS"],
    "tech:typescript": ["TypeScript"],
    "tech:java": ["Java"],
    "tech:cpp": ["C++"],
    "tech:csharp": ["C#"],
    "tech:ruby": ["Ruby"],
    "tech:kotlin": ["Kotlin"],
    "tech:swift": ["Swift"],
    "tech:php": ["PHP"],
    "tech:sql": ["SQL"],
    "tech:docker": ["Docker"],
    "tech:kubernetes": ["Kubernetes", "k8s"],
    "tech:linux": ["Linux"],
    "tech:windows": ["Windows"],
    "tech:macos": ["macOS", "Mac", "MacBook"],
    "tech:iphone": ["iPhone"],
    "tech:android": ["Android", "安卓"],
    "tech:excel": ["Excel"],
    "tech:git": ["Git"],
    "tech:react": ["React"],
    "tech:postgres": ["PostgreSQL", "Postgres"],
    "tech:mysql": ["MySQL"],
    # animals
    "animal:cat": ["cat", "cats", "猫", "gato", "gatos", "Katze", "Katzen"],
    "animal:dog": ["dog", "dogs", "狗", "perro", "perros", "Hund", "Hunde", "chien", "chiens"],
    "animal:horse": ["horse", "horses", "马", "caballo", "caballos", "Pferd", "Pferde", "cheval", "chevaux"],
    "animal:rabbit": ["rabbit", "rabbits", "兔子", "conejo", "conejos", "Kaninchen", "lapin", "lapins"],
    "animal:parrot": ["parrot", "parrots", "鹦鹉", "loro", "loros", "Papagei", "Papageien", "perroquet"],
    # foods and drinks
    "food:coffee": ["coffee", "咖啡", "café", "Kaffee"],
    "food:tea": ["tea", "茶", "té", "Tee", "thé"],
    "food:rice": ["rice", "米饭", "大米", "arroz", "Reis", "riz"],
    "food:pasta": ["pasta", "意大利面", "Nudeln", "pâtes"],
    "food:bread": ["bread", "面包", "Brot"],
    "food:eggs": ["egg", "eggs", "鸡蛋", "huevo", "huevos", "Ei", "Eier", "Eiern", "œuf", "œufs", "oeufs"],
    "food:chicken": ["chicken", "鸡肉", "pollo", "Hähnchen", "poulet"],
    # planets
    "planet:mars": ["Mars", "火星", "Marte"],
    "planet:venus": ["Venus", "金星", "Vénus"],
    "planet:jupiter": ["Jupiter", "木星", "Júpiter"],
    "planet:moon": ["Moon", "月球", "月亮", "Luna", "Mond", "Lune"],
    # currencies
    "currency:usd": ["dollar", "dollars", "USD", "美元", "dólar", "dólares", "Dollar"],
    "currency:eur": ["euro", "euros", "EUR", "欧元", "Euro"],
    "currency:yen": ["yen", "JPY", "日元", "Yen"],
    "currency:gbp": ["pound", "pounds", "GBP", "英镑", "libra", "libras", "Pfund", "livre", "livres"],
    # units
    "unit:km": [
        "km",
        "kilometer",
        "kilometers",
        "kilometre",
        "kilometres",
        "公里",
        "kilómetros",
        "Kilometer",
        "kilomètres",
    ],
    "unit:mile": ["mile", "miles", "英里", "millas", "Meilen", "milles"],
    "unit:kg": ["kg", "kilogram", "kilograms", "公斤", "千克", "kilogramos", "Kilogramm", "kilogrammes"],
    "unit:pound-weight": ["lb", "lbs"],
    "unit:celsius": ["Celsius", "°C", "摄氏"],
    "unit:fahrenheit": ["Fahrenheit", "°F", "华氏"],
}

# word -> (concept, sign); two texts that both mention a concept must agree on its sign
POLARITY: dict[str, tuple[str, int]] = {}


def _pairs(concept: str, plus: list[str], minus: list[str]) -> None:
    for w in plus:
        POLARITY[w] = (concept, +1)
    for w in minus:
        POLARITY[w] = (concept, -1)


_pairs(
    "switch",
    [
        "enable",
        "activate",
        "turn on",
        "switch on",
        "启用",
        "开启",
        "打开",
        "activar",
        "aktivieren",
        "einschalten",
        "activer",
    ],
    [
        "disable",
        "deactivate",
        "turn off",
        "switch off",
        "禁用",
        "关闭",
        "desactivar",
        "deaktivieren",
        "ausschalten",
        "désactiver",
    ],
)
_pairs(
    "install",
    ["install", "安装", "instalar", "installieren", "installer"],
    ["uninstall", "remove", "卸载", "desinstalar", "deinstallieren", "désinstaller"],
)
_pairs(
    "amount",
    ["increase", "raise", "boost", "增加", "提高", "aumentar", "erhöhen", "augmenter"],
    [
        "decrease",
        "reduce",
        "lower",
        "减少",
        "降低",
        "disminuir",
        "reducir",
        "verringern",
        "senken",
        "diminuer",
        "réduire",
    ],
)
_pairs(
    "trade",
    ["buy", "purchase", "买", "购买", "comprar", "kaufen", "acheter"],
    ["sell", "卖", "出售", "vender", "verkaufen", "vendre"],
)
_pairs(
    "transfer",
    ["upload", "上传", "subir", "hochladen", "téléverser"],
    ["download", "下载", "descargar", "herunterladen", "télécharger"],
)
_pairs(
    "crypt",
    ["encrypt", "加密", "cifrar", "verschlüsseln", "chiffrer"],
    ["decrypt", "解密", "descifrar", "entschlüsseln", "déchiffrer"],
)
_pairs(
    "io",
    ["import", "导入", "importar", "importieren", "importer"],
    ["export", "导出", "exportar", "exportieren", "exporter"],
)
_pairs(
    "extreme",
    ["maximum", "largest", "biggest", "highest", "最大", "最高", "máximo", "Maximum", "größte", "höchste", "maximal"],
    ["minimum", "smallest", "lowest", "最小", "最低", "mínimo", "Minimum", "kleinste", "niedrigste", "minimal"],
)
_pairs(
    "phase",
    ["boiling", "boil", "沸点", "沸腾", "ebullición", "Siedepunkt", "ébullition"],
    ["freezing", "freeze", "冰点", "凝固", "congelación", "Gefrierpunkt", "congélation"],
)
_pairs("temperature", ["hot", "warm", "热", "caliente", "heiß", "chaud"], ["cold", "冷", "frío", "kalt", "froid"])
_pairs(
    "order",
    ["first", "第一", "primero", "primer", "erste", "premier", "première"],
    ["last", "最后", "último", "letzte", "dernier", "dernière"],
)
_pairs(
    "merit",
    ["advantages", "pros", "benefits", "优点", "好处", "ventajas", "Vorteile", "avantages"],
    ["disadvantages", "cons", "drawbacks", "缺点", "坏处", "desventajas", "Nachteile", "inconvénients"],
)
_pairs(
    "quality", ["best", "最好", "mejor", "beste", "meilleur"], ["worst", "最差", "最坏", "peor", "schlechteste", "pire"]
)
_pairs("time-rel", ["before", "之前", "antes", "avant"], ["after", "之后", "después", "après"])
_pairs("price", ["expensive", "贵", "caro", "teuer", "cher"], ["cheap", "便宜", "barato", "billig", "bon marché"])
_pairs("direction-ns", ["north", "北方", "norte", "Norden", "nord"], ["south", "南方", "Süden", "sud"])
_pairs("direction-ew", ["east", "东方", "Osten"], ["west", "西方", "oeste", "Westen", "ouest"])
_pairs("gain", ["win", "ganar", "gewinnen", "gagner"], ["lose", "perder", "verlieren", "perdre"])
_pairs(
    "speed",
    ["faster", "更快", "más rápido", "schneller", "plus rapide"],
    ["slower", "更慢", "más lento", "langsamer", "plus lent"],
)
_pairs(
    "start",
    ["start", "begin", "启动", "开始", "iniciar", "empezar", "starten", "beginnen", "démarrer", "commencer"],
    ["stop", "停止", "结束", "detener", "parar", "stoppen", "beenden", "arrêter"],
)
_pairs(
    "add",
    ["add", "添加", "agregar", "añadir", "hinzufügen", "ajouter"],
    ["delete", "删除", "eliminar", "borrar", "löschen", "supprimer"],
)

NEGATIONS: list[str] = [
    # en
    "not",
    "n't",
    "never",
    "without",
    "no",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "cannot",
    # es
    "nunca",
    "sin",
    "ningún",
    "ninguna",
    "ninguno",
    "tampoco",
    # de
    "nicht",
    "kein",
    "keine",
    "keinen",
    "keinem",
    "keiner",
    "nie",
    "niemals",
    "ohne",
    # fr
    "ne",
    "n'",
    "pas",
    "jamais",
    "sans",
    "aucun",
    "aucune",
    # zh (single characters are matched inside words)
    "不",
    "没",
    "沒",
    "无",
    "無",
    "别",
    "未",
]
# zh words containing a negation character that are not negations
NEGATION_EXCEPTIONS: list[str] = [
    "不同",
    "不错",
    "不仅",
    "不过",
    "无论",
    "别人",
    "差不多",
    "未来",
    "无线",
    "区别",
    "特别",
    "分别",
    "类别",
    "性别",
    "级别",
    "告别",
    "不断",
]

# Function words per language: language identification of short prompts, and content-word extraction.
STOPWORDS: dict[str, set[str]] = {
    "en": set(
        "a an the is are was were be been being am do does did doing done have has had having i me my mine you your "
        "yours he him his she her it its we us our they them their what which who whom whose when where why how "
        "this that these those there here of in on at to from by for with about into over under between through "
        "and or but if then than so as not no can could should would will shall may might must shall up down out "
        "off again any some all each every more most other such only own same very just also too s t don't "
        "isn't aren't can't won't i'm i've what's how's it's there's".split()
    ),
    "es": set(
        "el la los las un una unos unas es son fue ser estar está están de del al a en por para con sin sobre y o "
        "pero que qué cuál cuáles cómo cuándo dónde quién por qué mi mis tu tus su sus se lo le les me te nos "
        "muy más menos este esta estos estas ese esa hay".split()
    ),
    "de": set(
        "der die das den dem des ein eine einen einem einer ist sind war waren sein bin bist hat haben wird werden "
        "von zu zum zur mit ohne für auf in im an am aus bei nach über unter und oder aber dass was wie wo wann "
        "warum wer welche welcher welches ich du er sie es wir ihr man mein meine dein sich nicht auch sehr mehr "
        "kann können soll".split()
    ),
    "fr": set(
        "le la les un une des du de d' l' est sont était être avoir a ont à au aux en dans par pour avec sans sur "
        "sous et ou mais que qu' quoi quel quelle quels quelles comment quand où qui pourquoi je tu il elle nous "
        "vous ils elles mon ma mes ton ta tes son sa ses se ce cette ces très plus moins ne pas peut".split()
    ),
}
# Words that carry no topic: a paraphrase may add or drop them freely.
GENERIC_WORDS: set[str] = set(
    "best way ways tip tips step steps guide procedure explain tell know want need make makes made get give good "
    "great easy easiest quick quickly simple simply effective effectively properly correctly please help "
    "something thing things kind sort number beginner beginners start begin using use used question mean means "
    "meaning difference different example examples idea ideas recommend recommendation should could would "
    "can like really actually".split()
)

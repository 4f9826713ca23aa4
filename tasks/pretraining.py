"""RemBERT pre-training tasks and mixtures (registrations only).

Tasks (raw text -> masked LM, `preprocessors.mlm_preprocessors`):
  wiki_<lang>  tfds `wikipedia/<WIKIPEDIA_DATE>.<lang>`, mBERT's languages.
  mc4_<lang>   tfds `c4/multilingual` (mC4), one split per language
               (`<lang>` for train, `<lang>-validation`); "-" becomes "_" and
               the name is lower-cased (mc4_bg_latn) since seqio names
               allow no "-".
Mixtures, sampling languages as RemBERT does: language l with probability
p_l proportional to n_l ** alpha, n_l the bytes of l's text pooled over the
mixture's tasks of l, and within l each task by its share of n_l
(`preprocessors.smoothed_rate_per_language`; gin `smoothed_rate.alpha`, 0.5
as in the paper). Sizes are the num_bytes of the tfds split info of the
prepared datasets, or `smoothed_rate.sizes` (gin); a task with neither is an
error naming it (`preprocessors.check_mixture_rates`), never a default:
  wiki_104     all wiki_* tasks: 103 languages.
  mc4_110      all mc4_* tasks: 101 languages (romanised splits pooled).
  rembert_110  both: 127 languages, Wikipedia and mC4 pooled per language.

Languages (`LANGUAGES`, one row per language; docs/languages.md is the
table, `language_table_markdown()` writes it):
  * mBERT's "104 languages" name Chinese (Simplified) and Chinese
    (Traditional) separately; both are the one zh Wikipedia, so wiki_104 has
    103 tasks: the 100 original languages plus Thai and Mongolian, which the
    cased release added.
  * mc4_110 uses every language split tfds has for mC4 in this version: 101
    languages plus 6 romanised variants (bg/el/hi/ja/ru/zh-Latn), 107 tasks.
    The undetermined-language split ("und") is left out.
  * The two sources name some languages differently: Hebrew is he in
    Wikipedia and iw in mC4 (cld3 keeps the withdrawn ISO code), Tagalog is
    tl in Wikipedia and Filipino (fil) in mC4; both pairs are one language.
    Each language's code is its Wikipedia code where it has one.
  * The paper reports 110 languages, but its list of them, and how it
    matched Wikipedia's codes to mC4's, is not published in a usable form,
    so the 110 cannot be rebuilt from public information. No simple rule on
    the public lists gives 110 either: 77 languages are in both sources, 101
    in mC4, 103 in mBERT's Wikipedia, 127 in their union. rembert_110 keeps
    the paper's name and uses the union: 127 languages, not 110.

Every task reads input_ids' vocabulary from gin
(`get_vocabulary.sentencepiece_model_file`) only when first used, so this
module imports without a SentencePiece file.
"""

# pylint: disable=g-bad-import-order,wrong-import-order
from rembert_mtf import compat  # noqa: F401  (first: mesh_tensorflow fix)

import collections

import seqio

from rembert_mtf.data import preprocessors
from rembert_mtf.data import vocabulary

# The newest Wikipedia dump tfds 4.9.10 has configs for.
WIKIPEDIA_DATE = "20230601"
WIKIPEDIA_VERSION = "1.0.0"
MC4_VERSION = "3.1.0"

# Wikipedia codes of multilingual BERT's languages (zh serves both scripts).
MBERT_WIKI_LANGUAGES = (
    "af", "an", "ar", "ast", "az", "azb", "ba", "bar", "be", "bg", "bn",
    "bpy", "br", "bs", "ca", "ce", "ceb", "cs", "cv", "cy", "da", "de", "el",
    "en", "es", "et", "eu", "fa", "fi", "fr", "fy", "ga", "gl", "gu", "he",
    "hi", "hr", "ht", "hu", "hy", "id", "io", "is", "it", "ja", "jv", "ka",
    "kk", "kn", "ko", "ky", "la", "lb", "lmo", "lt", "lv", "mg", "min", "mk",
    "ml", "mn", "mr", "ms", "my", "nds", "ne", "new", "nl", "nn", "no", "oc",
    "pa", "pl", "pms", "pnb", "pt", "ro", "ru", "scn", "sco", "sh", "sk",
    "sl", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tl", "tr",
    "tt", "uk", "ur", "uz", "vi", "vo", "war", "yo", "zh",
)

# mC4 language splits of tfds c4/multilingual 3.1.0 (its MC4_LANGUAGES).
MC4_LANGUAGES = (
    "af", "am", "ar", "az", "be", "bg", "bg-Latn", "bn", "ca", "ceb", "co",
    "cs", "cy", "da", "de", "el", "el-Latn", "en", "eo", "es", "et", "eu",
    "fa", "fi", "fil", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "haw", "hi",
    "hi-Latn", "hmn", "ht", "hu", "hy", "id", "ig", "is", "it", "iw", "ja",
    "ja-Latn", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la", "lb",
    "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my",
    "ne", "nl", "no", "ny", "pa", "pl", "ps", "pt", "ro", "ru", "ru-Latn",
    "sd", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "st", "su", "sv",
    "sw", "ta", "te", "tg", "th", "tr", "uk", "ur", "uz", "vi", "xh", "yi",
    "yo", "zh", "zh-Latn", "zu",
)

# A language of the pre-training data: its code (the Wikipedia code where it
# has a Wikipedia), English name, Wikipedia code (None: not one of mBERT's)
# and mC4 splits (empty: not in mC4).
Language = collections.namedtuple("Language", "code name wikipedia mc4")

# Every language of rembert_110. A romanised mC4 split (bg-Latn, ...) is
# pooled with its language: it is the same language in another script (mT5
# counts mC4's 107 splits as 101 languages), and kept apart it would be a
# small "language" of its own, up-weighted by the smoothing past its share
# of the language's text.
LANGUAGES = (
    #        code   English name            wiki   mC4 splits
    Language("af",  "Afrikaans",            "af",  ("af",)),
    Language("am",  "Amharic",              None,  ("am",)),
    Language("an",  "Aragonese",            "an",  ()),
    Language("ar",  "Arabic",               "ar",  ("ar",)),
    Language("ast", "Asturian",             "ast", ()),
    Language("az",  "Azerbaijani",          "az",  ("az",)),
    Language("azb", "South Azerbaijani",    "azb", ()),
    Language("ba",  "Bashkir",              "ba",  ()),
    Language("bar", "Bavarian",             "bar", ()),
    Language("be",  "Belarusian",           "be",  ("be",)),
    Language("bg",  "Bulgarian",            "bg",  ("bg", "bg-Latn")),
    Language("bn",  "Bengali",              "bn",  ("bn",)),
    Language("bpy", "Bishnupriya Manipuri", "bpy", ()),
    Language("br",  "Breton",               "br",  ()),
    Language("bs",  "Bosnian",              "bs",  ()),
    Language("ca",  "Catalan",              "ca",  ("ca",)),
    Language("ce",  "Chechen",              "ce",  ()),
    Language("ceb", "Cebuano",              "ceb", ("ceb",)),
    Language("co",  "Corsican",             None,  ("co",)),
    Language("cs",  "Czech",                "cs",  ("cs",)),
    Language("cv",  "Chuvash",              "cv",  ()),
    Language("cy",  "Welsh",                "cy",  ("cy",)),
    Language("da",  "Danish",               "da",  ("da",)),
    Language("de",  "German",               "de",  ("de",)),
    Language("el",  "Greek",                "el",  ("el", "el-Latn")),
    Language("en",  "English",              "en",  ("en",)),
    Language("eo",  "Esperanto",            None,  ("eo",)),
    Language("es",  "Spanish",              "es",  ("es",)),
    Language("et",  "Estonian",             "et",  ("et",)),
    Language("eu",  "Basque",               "eu",  ("eu",)),
    Language("fa",  "Persian",              "fa",  ("fa",)),
    Language("fi",  "Finnish",              "fi",  ("fi",)),
    Language("fr",  "French",               "fr",  ("fr",)),
    Language("fy",  "West Frisian",         "fy",  ("fy",)),
    Language("ga",  "Irish",                "ga",  ("ga",)),
    Language("gd",  "Scottish Gaelic",      None,  ("gd",)),
    Language("gl",  "Galician",             "gl",  ("gl",)),
    Language("gu",  "Gujarati",             "gu",  ("gu",)),
    Language("ha",  "Hausa",                None,  ("ha",)),
    Language("haw", "Hawaiian",             None,  ("haw",)),
    Language("he",  "Hebrew",               "he",  ("iw",)),
    Language("hi",  "Hindi",                "hi",  ("hi", "hi-Latn")),
    Language("hmn", "Hmong",                None,  ("hmn",)),
    Language("hr",  "Croatian",             "hr",  ()),
    Language("ht",  "Haitian Creole",       "ht",  ("ht",)),
    Language("hu",  "Hungarian",            "hu",  ("hu",)),
    Language("hy",  "Armenian",             "hy",  ("hy",)),
    Language("id",  "Indonesian",           "id",  ("id",)),
    Language("ig",  "Igbo",                 None,  ("ig",)),
    Language("io",  "Ido",                  "io",  ()),
    Language("is",  "Icelandic",            "is",  ("is",)),
    Language("it",  "Italian",              "it",  ("it",)),
    Language("ja",  "Japanese",             "ja",  ("ja", "ja-Latn")),
    Language("jv",  "Javanese",             "jv",  ("jv",)),
    Language("ka",  "Georgian",             "ka",  ("ka",)),
    Language("kk",  "Kazakh",               "kk",  ("kk",)),
    Language("km",  "Khmer",                None,  ("km",)),
    Language("kn",  "Kannada",              "kn",  ("kn",)),
    Language("ko",  "Korean",               "ko",  ("ko",)),
    Language("ku",  "Kurdish",              None,  ("ku",)),
    Language("ky",  "Kyrgyz",               "ky",  ("ky",)),
    Language("la",  "Latin",                "la",  ("la",)),
    Language("lb",  "Luxembourgish",        "lb",  ("lb",)),
    Language("lmo", "Lombard",              "lmo", ()),
    Language("lo",  "Lao",                  None,  ("lo",)),
    Language("lt",  "Lithuanian",           "lt",  ("lt",)),
    Language("lv",  "Latvian",              "lv",  ("lv",)),
    Language("mg",  "Malagasy",             "mg",  ("mg",)),
    Language("mi",  "Maori",                None,  ("mi",)),
    Language("min", "Minangkabau",          "min", ()),
    Language("mk",  "Macedonian",           "mk",  ("mk",)),
    Language("ml",  "Malayalam",            "ml",  ("ml",)),
    Language("mn",  "Mongolian",            "mn",  ("mn",)),
    Language("mr",  "Marathi",              "mr",  ("mr",)),
    Language("ms",  "Malay",                "ms",  ("ms",)),
    Language("mt",  "Maltese",              None,  ("mt",)),
    Language("my",  "Burmese",              "my",  ("my",)),
    Language("nds", "Low German",           "nds", ()),
    Language("ne",  "Nepali",               "ne",  ("ne",)),
    Language("new", "Newar",                "new", ()),
    Language("nl",  "Dutch",                "nl",  ("nl",)),
    Language("nn",  "Norwegian Nynorsk",    "nn",  ()),
    Language("no",  "Norwegian Bokmål",     "no",  ("no",)),
    Language("ny",  "Chichewa",             None,  ("ny",)),
    Language("oc",  "Occitan",              "oc",  ()),
    Language("pa",  "Punjabi",              "pa",  ("pa",)),
    Language("pl",  "Polish",               "pl",  ("pl",)),
    Language("pms", "Piedmontese",          "pms", ()),
    Language("pnb", "Western Punjabi",      "pnb", ()),
    Language("ps",  "Pashto",               None,  ("ps",)),
    Language("pt",  "Portuguese",           "pt",  ("pt",)),
    Language("ro",  "Romanian",             "ro",  ("ro",)),
    Language("ru",  "Russian",              "ru",  ("ru", "ru-Latn")),
    Language("scn", "Sicilian",             "scn", ()),
    Language("sco", "Scots",                "sco", ()),
    Language("sd",  "Sindhi",               None,  ("sd",)),
    Language("sh",  "Serbo-Croatian",       "sh",  ()),
    Language("si",  "Sinhala",              None,  ("si",)),
    Language("sk",  "Slovak",               "sk",  ("sk",)),
    Language("sl",  "Slovenian",            "sl",  ("sl",)),
    Language("sm",  "Samoan",               None,  ("sm",)),
    Language("sn",  "Shona",                None,  ("sn",)),
    Language("so",  "Somali",               None,  ("so",)),
    Language("sq",  "Albanian",             "sq",  ("sq",)),
    Language("sr",  "Serbian",              "sr",  ("sr",)),
    Language("st",  "Southern Sotho",       None,  ("st",)),
    Language("su",  "Sundanese",            "su",  ("su",)),
    Language("sv",  "Swedish",              "sv",  ("sv",)),
    Language("sw",  "Swahili",              "sw",  ("sw",)),
    Language("ta",  "Tamil",                "ta",  ("ta",)),
    Language("te",  "Telugu",               "te",  ("te",)),
    Language("tg",  "Tajik",                "tg",  ("tg",)),
    Language("th",  "Thai",                 "th",  ("th",)),
    Language("tl",  "Tagalog (Filipino)",   "tl",  ("fil",)),
    Language("tr",  "Turkish",              "tr",  ("tr",)),
    Language("tt",  "Tatar",                "tt",  ()),
    Language("uk",  "Ukrainian",            "uk",  ("uk",)),
    Language("ur",  "Urdu",                 "ur",  ("ur",)),
    Language("uz",  "Uzbek",                "uz",  ("uz",)),
    Language("vi",  "Vietnamese",           "vi",  ("vi",)),
    Language("vo",  "Volapük",              "vo",  ()),
    Language("war", "Waray",                "war", ()),
    Language("xh",  "Xhosa",                None,  ("xh",)),
    Language("yi",  "Yiddish",              None,  ("yi",)),
    Language("yo",  "Yoruba",               "yo",  ("yo",)),
    Language("zh",  "Chinese",              "zh",  ("zh", "zh-Latn")),
    Language("zu",  "Zulu",                 None,  ("zu",)),
)

# Mapping notes, shown in docs/languages.md.
NOTES = {
    "he": "mC4 (cld3) uses the withdrawn ISO 639 code iw",
    "tl": "Wikipedia's Tagalog and mC4's Filipino (fil), its standard form",
    "no": ("Bokmål in both: Wikipedia's no is Bokmål, mC4's no is cld3's "
           "Norwegian; neither source uses nb"),
    "nn": "Wikipedia only; cld3 has no Nynorsk label (mC4's no may hold some)",
    "zh": ("one Wikipedia for Simplified and Traditional (mBERT lists both), "
           "one cld3 label for both scripts; zh-Latn is romanised Chinese"),
    "bg": "bg-Latn: romanised Bulgarian, pooled",
    "el": "el-Latn: romanised Greek, pooled",
    "hi": "hi-Latn: romanised Hindi, pooled",
    "ja": "ja-Latn: romanised Japanese, pooled",
    "ru": "ru-Latn: romanised Russian, pooled",
    "sh": ("Serbo-Croatian: its own Wikipedia, apart from sr, hr and bs; mC4 "
           "has sr only"),
    "sr": "Serbian in both (mC4 has no sh, hr or bs split)",
    "hr": "Wikipedia only (mC4 has no hr split)",
    "bs": "Wikipedia only (mC4 has no bs split)",
    "ceb": "its Wikipedia is mostly bot-written stubs; pooled with mC4's ceb",
    "war": "Wikipedia only, mostly bot-written stubs",
    "ku": "mC4 only (cld3's Kurdish); mBERT has no Kurdish Wikipedia",
    "azb": ("Arabic-script South Azerbaijani, its own Wikipedia; not pooled "
            "with az"),
    "pnb": ("Shahmukhi-script Western Punjabi, its own Wikipedia; not pooled "
            "with pa"),
    "sco": "its own Wikipedia; not pooled with English (en)",
    "nds": "its own Wikipedia; not pooled with German (de)",
    "bar": "its own Wikipedia; not pooled with German (de)",
    "lmo": "its own Wikipedia; not pooled with Italian (it)",
    "pms": "its own Wikipedia; not pooled with Italian (it)",
    "scn": "its own Wikipedia; not pooled with Italian (it)",
}


def wiki_task_name(lang):
  return f"wiki_{lang}"


def mc4_task_name(lang):
  return "mc4_" + lang.replace("-", "_").lower()


# Task name -> language code, for every task below.
TASK_LANGUAGES = {}
for _language in LANGUAGES:
  if _language.wikipedia:
    TASK_LANGUAGES[wiki_task_name(_language.wikipedia)] = _language.code
  for _split in _language.mc4:
    TASK_LANGUAGES[mc4_task_name(_split)] = _language.code


def language_table_markdown():
  """The table of docs/languages.md: one row per language of rembert_110.

  Returns:
    a Markdown table (code, language, Wikipedia code, mC4 splits, note),
    ending with a newline.
  """
  lines = ["| code | language | Wikipedia | mC4 | note |",
           "|---|---|---|---|---|"]
  for language in LANGUAGES:
    wikipedia = f"`{language.wikipedia}`" if language.wikipedia else "-"
    mc4 = ", ".join(f"`{s}`" for s in language.mc4) or "-"
    lines.append(f"| `{language.code}` | {language.name} | {wikipedia} | "
                 f"{mc4} | {NOTES.get(language.code, '')} |")
  return "\n".join(lines) + "\n"


OUTPUT_FEATURES = preprocessors.mlm_output_features(
    vocabulary.DeferredVocabulary())

for _lang in MBERT_WIKI_LANGUAGES:
  seqio.TaskRegistry.add(
      wiki_task_name(_lang),
      source=preprocessors.TfdsDataSource(
          f"wikipedia/{WIKIPEDIA_DATE}.{_lang}:{WIKIPEDIA_VERSION}",
          splits=("train",)),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=OUTPUT_FEATURES,
      metric_fns=[])

for _lang in MC4_LANGUAGES:
  seqio.TaskRegistry.add(
      mc4_task_name(_lang),
      source=preprocessors.TfdsDataSource(
          f"c4/multilingual:{MC4_VERSION}",
          splits={"train": _lang, "validation": f"{_lang}-validation"}),
      preprocessors=preprocessors.mlm_preprocessors(),
      output_features=OUTPUT_FEATURES,
      metric_fns=[])

WIKI_TASKS = tuple(wiki_task_name(lang) for lang in MBERT_WIKI_LANGUAGES)
MC4_TASKS = tuple(mc4_task_name(lang) for lang in MC4_LANGUAGES)

for _name, _tasks in (("wiki_104", WIKI_TASKS), ("mc4_110", MC4_TASKS),
                      ("rembert_110", WIKI_TASKS + MC4_TASKS)):
  seqio.MixtureRegistry.add(
      _name, _tasks,
      default_rate=preprocessors.smoothed_rate_per_language(
          {task: TASK_LANGUAGES[task] for task in _tasks}))

"""XTREME metrics on hand-computed cases."""

import statistics

import pytest

from rembert_mtf.data import postprocessors
from rembert_mtf.evaluation import metrics

WordTags = postprocessors.WordTags


def test_accuracy_in_percent():
  assert metrics.accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == {"accuracy": 75.0}


def test_span_f1_i_after_o_starts_an_entity_as_in_conlleval():
  # conlleval reads I-LOC after O as the start of a LOC entity; a strict
  # IOB2 scorer would drop it (P = 1, R = 1/2: 66.7).
  gold = [["B-PER", "I-PER", "O", "B-LOC"]]
  pred = [["B-PER", "I-PER", "O", "I-LOC"]]
  assert metrics.span_f1(gold, pred) == {"span_f1": 100.0}


def test_span_f1_type_change_inside_a_span_breaks_it():
  # B-PER I-LOC is PER(0) + LOC(1), neither equals gold PER(0..1).
  assert metrics.span_f1([["B-PER", "I-PER"]],
                         [["B-PER", "I-LOC"]]) == {"span_f1": 0.0}


def test_span_f1_counts_whole_entities_over_sentences():
  # Gold PER(0-1) LOC(3) ORG; predicted LOC spans 3-4: 2 of 3 right on both
  # sides, so P = R = F1 = 2/3.
  gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O"]]
  pred = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "O"]]
  assert metrics.span_f1(gold, pred)["span_f1"] == pytest.approx(200 / 3)


def test_pos_f1_merges_runs_of_a_tag_into_one_chunk():
  # Token accuracy would be 2/3; as seqeval chunks, gold NOUN(0-1) VERB(2)
  # and predicted NOUN(0) VERB(1-2) share nothing.
  assert metrics.pos_f1([["NOUN", "NOUN", "VERB"]],
                        [["NOUN", "VERB", "VERB"]]) == {"pos_f1": 0.0}


def test_pos_f1_hand_computed():
  # Gold chunks DET NOUN VERB PUNCT; predicted DET NOUN(1-2) PUNCT:
  # P = 2/3, R = 2/4, F1 = 4/7.
  gold = [["DET", "NOUN", "VERB", "PUNCT"]]
  pred = [["DET", "NOUN", "NOUN", "PUNCT"]]
  assert metrics.pos_f1(gold, pred)["pos_f1"] == pytest.approx(400 / 7)


def test_pos_f1_s_tags_are_single_token_chunks():
  # seqeval reads the S of SYM as "single": SYM SYM is two chunks, so one
  # of two matches (a reading merging the run would give 0).
  assert metrics.pos_f1([["SYM", "SYM"]],
                        [["SYM", "X"]])["pos_f1"] == pytest.approx(50.0)


def test_pos_f1_keeps_seqeval_0_0_12_types():
  # seqeval 1.x alone would type CCONJ and SCONJ both "CONJ" and score this
  # 66.7; XTREME's seqeval 0.0.12 kept the full tag as the type: 1 of 2.
  assert metrics.pos_f1([["CCONJ", "SCONJ"]],
                        [["SCONJ", "SCONJ"]])["pos_f1"] == pytest.approx(50.0)
  assert metrics.pos_f1([["CCONJ", "SCONJ", "NOUN"]],
                        [["CCONJ", "SCONJ", "NOUN"]]) == {"pos_f1": 100.0}


def test_squad_lowercase_punctuation_articles_whitespace():
  assert metrics.squad_em_f1([["The  Eiffel Tower!"]],
                             ["eiffel tower"]) == {"em": 100.0, "f1": 100.0}


def test_squad_articles_are_whole_words_only():
  # "another" is not the article "an": gold {another, one}, pred {one}.
  scores = metrics.squad_em_f1([["another one"]], ["one"])
  assert scores["em"] == 0.0
  assert scores["f1"] == pytest.approx(200 / 3)


def test_squad_partial_f1_and_mean_over_questions():
  # Q1: gold {new, york, city}, pred {york, city, hall}: P = R = 2/3.
  # Q2: exact. Mean F1 = (2/3 + 1) / 2, mean EM = 1/2.
  scores = metrics.squad_em_f1([["New York City"], ["Paris"]],
                               ["York City hall", "paris"])
  assert scores["em"] == pytest.approx(50.0)
  assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)


def test_squad_max_over_gold_answers():
  scores = metrics.squad_em_f1([["Denver Broncos", "Broncos"]], ["the Broncos"])
  assert scores == {"em": 100.0, "f1": 100.0}


def test_squad_empty_prediction_scores_zero():
  assert metrics.squad_em_f1([["Paris"]], [""]) == {"em": 0.0, "f1": 0.0}


def test_squad_keeps_non_ascii_punctuation_mlqa_drops_it():
  assert metrics.squad_em_f1([["«Paris»"]], ["Paris"])["em"] == 0.0
  assert metrics.mlqa_em_f1([["«Paris»"]], ["Paris"], "en")["em"] == 100.0


@pytest.mark.parametrize("lang,gold,pred", [
    ("en", "the cat", "cat."),
    ("es", "la casa blanca", "casa blanca"),
    ("es", "unos libros", "libros"),
    ("de", "der Hund", "Hund"),
    ("de", "einem Haus", "Haus"),
    ("vi", "những con mèo", "con mèo"),
    ("ar", "الكتاب", "كتاب"),
    ("hi", "किताब।", "किताब"),
    ("zh", "北京。", "北京"),
])
def test_mlqa_language_rules_exact_match(lang, gold, pred):
  assert metrics.mlqa_em_f1([[gold]], [pred], lang) == {"em": 100.0,
                                                        "f1": 100.0}


def test_mlqa_articles_are_per_language():
  # "la" is an article in Spanish only; Hindi has no articles to drop.
  assert metrics.mlqa_em_f1([["la casa"]], ["casa"], "en")["em"] == 0.0
  assert metrics.squad_em_f1([["la casa"]], ["casa"])["em"] == 0.0
  assert metrics.normalize_mlqa("The Cat", "hi") == "the cat"


def test_mlqa_arabic_removes_alef_lam_everywhere():
  # MLQA's Arabic rule replaces every "ال", also inside a word.
  assert metrics.normalize_mlqa("مالك", "ar") == "م ك"


def test_mlqa_chinese_mixed_segmentation():
  # CJK characters are tokens of their own, other runs split on spaces.
  assert metrics.normalize_mlqa("iPhone 手机，很好", "zh") == "iphone 手 机 很 好"
  # Gold 北 京 大 学, pred 北 京: P = 1, R = 1/2, F1 = 2/3.
  scores = metrics.mlqa_em_f1([["北京大学"]], ["北京"], "zh")
  assert scores["em"] == 0.0
  assert scores["f1"] == pytest.approx(200 / 3)
  # Without segmentation (as SQuAD) the strings are one token each: F1 0.
  assert metrics.squad_em_f1([["北京大学"]], ["北京"])["f1"] == 0.0


def test_mlqa_max_over_golds_and_empty_prediction():
  scores = metrics.mlqa_em_f1([["el perro", "un perro negro"], ["gato"]],
                              ["perro negro", ""], "es")
  assert scores == {"em": 50.0, "f1": 50.0}


def test_mlqa_style_for_languages_mlqa_lacks():
  # MLQA's script raises for them; here: whitespace, no articles.
  assert metrics.normalize_mlqa("Привет, мир!", "ru") == "привет мир"


def _paper(scores):
  return {task: {"all": metric} for task, metric in scores.items()}


# The RemBERT paper's ablation rows (shared/PAPER.md): XNLI, NER, PAWS-X,
# XQuAD EM/F1, MLQA EM/F1, TyDi EM/F1, and the Avg it prints.
ABLATION_ROWS = {
    "coupled, E 768": (70.7, 69.2, 85.3, (46.2, 63.2), (37.3, 53.1),
                       (40.7, 56.7), 62.3),
    "decoupled, E_in 768, E_out 768": (71.3, 68.9, 85.0, (46.9, 63.8),
                                       (37.3, 53.1), (42.8, 58.1), 62.7),
    "E_in 768, E_out 128": (70.0, 68.3, 84.3, (42.0, 60.8), (34.7, 50.9),
                            (35.2, 52.2), 60.1),
    "E_in 128, E_out 768": (70.4, 67.6, 84.9, (43.9, 60.0), (34.6, 49.5),
                            (37.8, 51.0), 60.2),
    "E_in 128, E_out 128": (68.1, 65.2, 83.3, (38.6, 54.8), (30.9, 45.2),
                            (32.2, 44.2), 56.6),
    "E_in 128, E_out 3072": (71.1, 68.1, 85.1, (45.3, 63.3), (37.2, 53.1),
                             (39.4, 54.7), 61.8),
    "E_in 128, 11 added layers": (71.2, 67.3, 85.0, (38.8, 55.5),
                                  (31.4, 46.6), (31.3, 45.5), 58.0),
    "E_in 128, reinvested in H": (72.8, 69.2, 85.6, (50.2, 67.2),
                                  (40.7, 56.4), (44.8, 60.0), 64.5),
    "E_in 128, reinvested in L": (73.6, 71.0, 86.7, (51.7, 68.8),
                                  (42.4, 58.2), (48.2, 62.9), 66.2),
}
# Table 16's rows: XNLI, POS, NER, PAWS-X, XQuAD, MLQA, TyDi, Avg.
TABLE_16_REMBERT = (80.8, 76.5, 70.1, 87.5, (64.0, 79.6), (55.0, 73.1),
                    (63.0, 77.0), 75.4)
TABLE_16_XLMR = (79.2, 73.8, 65.4, 86.4, (60.8, 76.6), (53.2, 71.6),
                 (45.0, 65.1), 71.4)
# The paper prints one decimal: a figure within half a unit of it rounds
# to it (the float sum may sit a hair either side of .x5).
ROUNDING = 0.05 + 1e-9


def _qa(em_f1):
  return {"em": em_f1[0], "f1": em_f1[1]}


def _table_16(row):
  xnli, pos, ner, pawsx, xquad, mlqa, tydi, _ = row
  return metrics.xtreme_summary(_paper({
      "XNLI": {"accuracy": xnli}, "POS": {"pos_f1": pos},
      "NER": {"span_f1": ner}, "PAWS-X": {"accuracy": pawsx},
      "XQuAD": _qa(xquad), "MLQA": _qa(mlqa), "TyDi": _qa(tydi)}))


@pytest.mark.parametrize("row", sorted(ABLATION_ROWS))
def test_paper_ablation_avg_reproduces_each_ablation_row(row):
  xnli, ner, pawsx, xquad, mlqa, tydi, printed = ABLATION_ROWS[row]
  summary = metrics.xtreme_summary(_paper({
      "XNLI": {"accuracy": xnli}, "NER": {"span_f1": ner},
      "PAWS-X": {"accuracy": pawsx}, "XQuAD": _qa(xquad),
      "MLQA": _qa(mlqa), "TyDi": _qa(tydi)}))
  assert summary["paper_ablation_missing"] == []
  assert abs(summary["paper_ablation_avg"] - printed) <= ROUNDING
  # The group mean of the same six tasks is another number.
  assert abs(summary["xtreme_group_avg"] - printed) > 0.5


def test_coupled_baseline_ablation_average_is_62_3():
  summary = metrics.xtreme_summary(_paper({
      "XNLI": {"accuracy": 70.7}, "NER": {"span_f1": 69.2},
      "PAWS-X": {"accuracy": 85.3}, "XQuAD": {"em": 46.2, "f1": 63.2},
      "MLQA": {"em": 37.3, "f1": 53.1}, "TyDi": {"em": 40.7, "f1": 56.7}}))
  # (70.7 + 69.2 + 85.3 + 54.7 + 45.2 + 48.7) / 6 = 373.8 / 6.
  assert summary["paper_ablation_avg"] == pytest.approx(62.3)
  assert summary["xtreme_group_missing"] == ["udpos"]


def test_xtreme_group_avg_reproduces_table_16_rembert():
  summary = _table_16(TABLE_16_REMBERT)
  assert summary["tasks"]["xquad"] == pytest.approx(71.8)
  assert summary["tasks"]["mlqa"] == pytest.approx(64.05)
  assert summary["groups"] == pytest.approx({
      "classification": 84.15, "structured_prediction": 73.3,
      "qa": (71.8 + 64.05 + 70.0) / 3})
  # The paper's Avg is the mean of the three group means: 75.36 ...
  assert summary["xtreme_group_avg"] == pytest.approx(
      (84.15 + 73.3 + 205.85 / 3) / 3)
  assert abs(summary["xtreme_group_avg"] - 75.4) <= ROUNDING
  assert summary["xtreme_group_missing"] == []
  # ... not the flat mean of the seven tasks (74.39), nor the ablation
  # average of its six non-POS tasks (74.0).
  assert statistics.fmean(summary["tasks"].values()) == pytest.approx(
      520.75 / 7)
  assert summary["paper_ablation_avg"] == pytest.approx(444.25 / 6)


def test_table_16_xlmr_row_does_not_round_to_its_printed_average():
  # Recorded, not hidden: by the same rule XLM-R's row (taken from XTREME)
  # gives (82.8 + 69.6 + 62.05) / 3 = 71.48, where Table 16 prints 71.4;
  # the flat mean (70.14) is further off.
  summary = _table_16(TABLE_16_XLMR)
  assert summary["xtreme_group_avg"] == pytest.approx(214.45 / 3)
  assert abs(summary["xtreme_group_avg"] - TABLE_16_XLMR[-1]) > ROUNDING


def test_xtreme_summary_means_over_languages():
  summary = metrics.xtreme_summary({
      "xquad": {"en": {"em": 70.0, "f1": 80.0}, "de": {"em": 50.0, "f1": 60.0}},
      "xnli": {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0},
               "fr": {"accuracy": 70.0}},
  })
  assert summary["tasks"] == {"xquad": 65.0, "xnli": 80.0}
  assert summary["groups"] == {"classification": 80.0, "qa": 65.0}
  assert summary["xtreme_group_avg"] == summary["paper_ablation_avg"] == 72.5
  assert summary["paper_ablation_missing"] == ["panx", "pawsx", "mlqa",
                                               "tydiqa"]


def test_pos_alone_has_no_ablation_average():
  summary = metrics.xtreme_summary({"udpos": {"de": {"pos_f1": 75.0}}})
  assert summary["xtreme_group_avg"] == 75.0
  assert summary["paper_ablation_avg"] is None
  assert "avg" not in summary and "avg_over_tasks" not in summary


def test_xtreme_summary_rejects_unknown_tasks():
  with pytest.raises(ValueError, match="no group"):
    metrics.xtreme_summary({"squad": {"en": {"em": 1.0, "f1": 2.0}}})


# ------------------------------------------- seqio metric_fns over WordTags --


def test_chunk_span_f1_scores_whole_sentences_not_pieces():
  # Gold PER spans the split point; predicting B- after it breaks the entity
  # (two entities), which only whole-sentence scoring can see.
  targets = [WordTags(0, 0, ("O", "B-PER")), WordTags(0, 2, ("I-PER",))]
  predictions = [WordTags(0, 0, ("O", "B-PER")), WordTags(0, 2, ("B-PER",))]
  assert metrics.chunk_span_f1(targets, predictions) == {"span_f1": 0.0}
  assert metrics.chunk_span_f1(targets, targets) == {"span_f1": 100.0}


def test_chunk_pos_metrics_flatten_sentences():
  targets = [WordTags(0, 0, ("NOUN", "VERB")), WordTags(1, 0, ("DET",)),
             WordTags(0, 2, ("ADJ",))]
  predictions = [WordTags(0, 0, ("NOUN", "VERB")), WordTags(1, 0, ("NOUN",)),
                 WordTags(0, 2, ("ADJ",))]
  assert metrics.chunk_word_accuracy(targets, predictions) == {
      "accuracy": 75.0}
  assert metrics.chunk_pos_f1(targets, targets)["pos_f1"] == 100.0
  assert metrics.chunk_pos_f1(targets, predictions)["pos_f1"] == (
      pytest.approx(75.0))


def test_accuracy_of_class_ids():
  assert metrics.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 75.0}

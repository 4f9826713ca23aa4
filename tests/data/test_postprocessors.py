"""seqio postprocess_fns: class ids, word tags of split sentences, QA."""

import numpy as np
import pytest
import seqio

from rembert_mtf.data import finetune_preprocessors as fp
from rembert_mtf.data import postprocessors
from rembert_mtf.data import qa_windows
from rembert_mtf.data import vocabulary
# Split sentences come from the feature tests' in-memory datasets.
from tests.data import test_finetune_preprocessors as fp_test


@pytest.fixture(scope="module")
def features(spm_path):
  vocab = vocabulary.get_vocabulary(spm_path)
  return {"input_ids": seqio.Feature(vocab, add_eos=False)}


NAMES = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
WordTags = postprocessors.WordTags


def _chunk(sentence_id, offset, labels):
  return {"sentence_id": sentence_id, "word_offset": offset,
          "labels": np.array(labels)}


def test_chunk_word_tags_reads_first_pieces_only():
  ex = _chunk(7, 3, [-1, 1, -1, 2, 0, -1, -1, -1])  # padded to 8
  target = postprocessors.chunk_word_tags(None, example=ex, is_target=True,
                                          tag_names=NAMES)
  assert target == WordTags(7, 3, ("B-PER", "I-PER", "O"))
  ids = np.array([4, 3, 4, 4, 1, 0, 2, 2])
  assert postprocessors.chunk_word_tags(
      ids, example=ex, tag_names=NAMES).tags == ("B-LOC", "I-LOC", "B-PER")
  logits = np.eye(5)[ids]
  assert postprocessors.chunk_word_tags(
      logits, example=ex, tag_names=NAMES).tags == ("B-LOC", "I-LOC", "B-PER")


def test_reassemble_sentences_orders_and_checks_coverage():
  chunks = [WordTags(1, 2, ("O",)), WordTags(0, 0, ("B-PER",)),
            WordTags(1, 0, ("B-LOC", "I-LOC"))]
  assert postprocessors.reassemble_sentences(chunks) == [
      ["B-PER"], ["B-LOC", "I-LOC", "O"]]
  with pytest.raises(ValueError, match="sentence 1"):
    postprocessors.reassemble_sentences([WordTags(1, 0, ("O",)),
                                         WordTags(1, 2, ("O",))])
  with pytest.raises(ValueError, match="sentence 1"):
    postprocessors.reassemble_sentences([WordTags(1, 0, ("O", "O")),
                                         WordTags(1, 1, ("O",))])


def test_sentence_tags_round_trip_through_a_split_sentence(features):
  words = ["kalomine", "su", "tari", "po", "lo", "mine", "ka"] * 3
  tags = [0, 1, 2, 0, 3, 4, 0] * 3
  chunks = fp_test._numpy(fp.token_classification(
      fp_test._tag_examples(words, tags), {"input_ids": 8}, features))
  assert len(chunks) > 1
  # A "model" that predicts the gold tag at every labelled piece.
  predictions = [np.where(c["labels"] >= 0, c["labels"], 4) for c in chunks]
  targets, predicted = postprocessors.sentence_tags(
      chunks[::-1], predictions[::-1], NAMES)
  assert targets == predicted == [[NAMES[t] for t in tags]]


def test_class_id():
  assert postprocessors.class_id(
      None, example={"label": np.int32(2)}, is_target=True) == 2
  assert postprocessors.class_id(np.array([0.1, 0.7, 0.2])) == 1
  assert postprocessors.class_id(np.int64(0)) == 0


def test_qa_window_metadata_keeps_metadata_and_passes_logits_through():
  window = {name: name for name in qa_windows.METADATA_FEATURES}
  window.update(input_ids=np.arange(4), start_position=1)
  assert postprocessors.qa_window_metadata(
      None, example=window, is_target=True) == {
          name: name for name in qa_windows.METADATA_FEATURES}
  logits = {"start_logits": np.zeros(4), "end_logits": np.ones(4)}
  assert postprocessors.qa_window_metadata(logits, example=window) is logits

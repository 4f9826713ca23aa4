"""seqio task and mixture registrations (installed as rembert_mtf.tasks).

Importing this package registers everything shipped:
  pretraining  wiki_<lang>, mc4_<lang>; mixtures wiki_104, mc4_110, rembert_110
  xtreme       XNLI, PAWS-X, NER, POS (train_en, eval_<lang>, translate-train)
  xtreme_qa    SQuAD, XQuAD, MLQA, TyDiQA-GoldP
  demo         the synthetic languages of `rembert-mtf demo`
"""
from rembert_mtf.tasks import pretraining  # noqa: F401
from rembert_mtf.tasks import xtreme  # noqa: F401
from rembert_mtf.tasks import xtreme_qa  # noqa: F401
from rembert_mtf.tasks import demo  # noqa: F401

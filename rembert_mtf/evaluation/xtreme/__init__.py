"""The zero-shot XTREME protocol: fine-tune on English, evaluate every language.

`rembert-mtf xtreme --model_dir=PRETRAINED --tasks=xnli,pawsx,ner,pos,xquad,
mlqa,tydiqa` does, for each task:

  1. fine-tune on the English training task, once per learning rate of the
     sweep and per seed (3 seeds: 0, 1, 2 by default);
  2. score every run on the dev sets and the test sets of all languages;
  3. select the learning rate with the best dev score averaged over seeds;
  4. report the selected runs' test scores per language as mean and sample
     standard deviation over seeds, plus the XTREME average
     (metrics.xtreme_summary).

Protocols (`--protocol`):
  xtreme   the paper's Table 10 sweeps (its baselines): batch 32, 3 epochs,
           PAWS-X {3,4,5}e-5, XNLI {1,2,3}e-5, QA {2,3,4}e-5, NER
           {1,...,5}e-5. Table 10 has no POS row; POS sweeps NER's rates (the
           same kind of task, tagged by the same token head).
  rembert  Table 15 (RemBERT itself): one rate, bigger batches, 3 epochs:
           PAWS-X 8e-6/128, XNLI 1e-5/128, QA 9e-6/128 (SQuAD-trained; used
           for TyDiQA too), POS 3e-5/128, NER 8e-6/64.

Model selection (`--select_on`): "en" (default) is XTREME's zero-shot rule:
the English dev score only, so no target-language label is used. "average"
takes the mean dev score over all languages that have a dev set. Dev sets:
the `validation` split of the evaluation tasks; for XQuAD (no dev split) the
SQuAD v1.1 dev set. TyDiQA-GoldP has no test split: as in XTREME its dev
split is the test set, so its "en" selection looks at the English test set.

Training length: `epochs` (3) over the training set's size (XTREME Table 1
sizes in examples; QA windows and split tagging sentences make the real
number of sequences slightly larger), `--max_train_steps` caps it for small
runs. Learning rate: linear warm-up over `--warmup_fraction` (10%, BERT's
fine-tuning default) of the steps, then linear decay to 0.

Files, under <output_dir> (default <model_dir>/xtreme):
  <task>/lr=<lr>/seed=<seed>/results.json  one per finished run, written
      atomically when it finishes: {"task", "learning_rate", "seed", "dev":
      {lang: {metric: v}}, "test": {lang: {metric: v}}, "settings"}. A run
      with results.json is skipped, so an interrupted sweep resumes where it
      stopped (the fine-tuning itself also resumes from its checkpoint).
  <task>/lr=<lr>/seed=<seed>/predictions/  QA answer JSON per task and split.
  checkpoints/<train task>/lr=<lr>/seed=<seed>/  the default backend's
      fine-tuned model (one checkpoint kept); XQuAD and MLQA share the
      SQuAD-trained models, as XTREME evaluates one SQuAD model on both.
  results.md, results.csv, summary.json  the tables.

The fine-tuning and prediction are callables (`finetune_fn(task,
learning_rate, seed, run_dir)`, `predict_fn(run_dir, task_name, split)`), so
the runner can be driven by fakes; `backend.TrainerBackend` is the real one,
over training.loop.train and loop.predict.

Modules:
  benchmarks  the Benchmark table, sweeps per protocol, defaults (pure
              Python: the CLI builds its flags from it)
  runner      run_once, sweep, run_xtreme: the runs and their resumption
  files       run folders, results.json, atomic JSON, collecting results
  selection   dev scores, learning-rate selection, mean/std over seeds,
              the XTREME average, the summary
  tables      results.md, results.csv, summary.json
  backend     TrainerBackend: fine-tuning Runs derived from the pre-trained
              model's Run

This package imports none of its modules: `benchmarks` must stay importable
without TensorFlow, so import the module you need.
"""

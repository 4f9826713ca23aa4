"""The XTREME protocol: fine-tune, keep the best-dev checkpoint, evaluate.

`rembert-mtf xtreme --model_dir=PRETRAINED --tasks=xnli,pawsx,ner,pos,xquad,
mlqa,tydiqa` does, for each task:

  1. fine-tune on the training data of the setting (`--setting`, below),
     once per learning rate of the sweep and per seed (3 seeds: 0, 1, 2 by
     default), keeping each run's checkpoint with the best English dev
     score (`--select_checkpoint`, below);
  2. score that checkpoint on the dev sets and the test sets of all
     languages;
  3. select the learning rate with the best dev score averaged over seeds;
  4. report the selected runs' test scores per language as mean and sample
     standard deviation over seeds, plus the paper's two averages
     (metrics.xtreme_summary), named apart:
       xtreme_group_avg    Table 16's Avg: mean of XTREME's three task-group
                           means (classification, structured prediction,
                           QA); 75.4 for RemBERT;
       paper_ablation_avg  the ablation tables' Avg: flat mean of XNLI, NER,
                           PAWS-X, XQuAD, MLQA and TyDiQA (no POS), QA as
                           (EM + F1) / 2; 62.3 for the coupled baseline.
     With tasks missing, each is the mean of those present and the tables
     say it is partial.

Settings (`--setting`, XTREME's names; benchmarks.SETTINGS):
  zero-shot            (default) fine-tune on English, evaluate every
                       language: the paper's and XTREME's protocol.
  translate-train      one model per target language, fine-tuned on the
                       English training set machine-translated into it
                       (the source language on the English set), evaluated
                       on that language.
  translate-train-all  one model fine-tuned on English plus every
                       translated training set (the `*_translate_train`
                       mixture: equal rates, and the sets are translations
                       of one set, so as XTREME's concatenation), evaluated
                       on every language.
Translated training data are registered for XNLI and PAWS-X only; any other
task with a translate-train setting is a one-line error naming those two.
Each setting writes to its own folder (and tables), never mixed.

Checkpoint selection (`--select_checkpoint`, backend.TrainerBackend):
  best_dev  (default) the trainer scores the English dev set every
            `--eval_every_steps` (default: a fifth of the run) and at the
            end, keeps the best checkpoint (evaluation.best.keep_if_best ->
            <checkpoints>/best/), and every dev and test score uses it. This
            is XTREME's rule for classification and tagging
            (run_classify.py / run_tag.py --save_only_best_checkpoint, on
            the training language's dev set every 100-1,000 steps); here
            the dev set is English in every setting, so no target-language
            label picks a checkpoint. XQuAD and MLQA select on SQuAD v1.1
            dev; TyDiQA-GoldP, whose dev split is its test set, keeps its
            last checkpoint. XTREME's own QA script keeps the last one.
  last      the final checkpoint of each run.
The RemBERT paper states neither rule: it averages three fine-tuning runs
and reports dev sets unless otherwise stated (the ablation tables), test
sets for XTREME (Table 16, scored by XTREME's leaderboard).

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
translate-train: "en" is the mean over the language models of each one's
English dev score, "average" the mean of each model's own-language dev
score (the dev set XTREME's run_classify.py selects on for a
--train_language other than English).

Training length: `epochs` (3) over the training set's size (XTREME Table 1
sizes in examples; QA windows and split tagging sentences make the real
number of sequences slightly larger; a translated set counts as the English
one, translate-train-all as English plus one per translation),
`--max_train_steps` caps it for small runs. Learning rate: linear warm-up
over `--warmup_fraction` (10%, BERT's fine-tuning default) of the steps,
then linear decay to 0.

Files, under <output_dir> (default <model_dir>/xtreme for zero-shot,
<model_dir>/xtreme-translate-train and <model_dir>/xtreme-translate-train-all
for the others):
  <task>/lr=<lr>/seed=<seed>/results.json  one per finished run, written
      atomically when it finishes: {"task", "learning_rate", "seed", "dev":
      {lang: {metric: v}}, "test": {lang: {metric: v}}, "checkpoint" (which
      one the scores use), "settings" (with the setting)}. A run with
      results.json is skipped, so an interrupted sweep resumes where it
      stopped (the fine-tuning itself also resumes from its checkpoint).
      translate-train: one folder lang=<L>/ per language's model below it,
      each with its own results.json, resumed language by language.
  <task>/lr=<lr>/seed=<seed>/predictions/  QA answer JSON per task and split.
  checkpoints/<train task>/lr=<lr>/seed=<seed>/  the default backend's
      fine-tuned model (one checkpoint, and best/ with best.json under
      best_dev); XQuAD and MLQA share the SQuAD-trained models, as XTREME
      evaluates one SQuAD model on both.
  results.md, results.csv, summary.json  the tables.

The fine-tuning and prediction are callables (`finetune_fn(task,
learning_rate, seed, model_dir, train_task)`, `predict_fn(model_dir,
task_name, split)`, see runner), so the runner can be driven by fakes;
`backend.TrainerBackend` is the real one, over training.loop.train and
loop.predict.

Modules:
  benchmarks  the Benchmark table, sweeps per protocol, defaults (pure
              Python: the CLI builds its flags from it)
  runner      run_once, sweep, run_xtreme: the runs and their resumption
  files       run folders, results.json, atomic JSON, collecting results
  selection   dev scores, learning-rate selection, mean/std over seeds,
              the paper's two averages, the summary
  tables      results.md, results.csv, summary.json
  backend     TrainerBackend: fine-tuning Runs derived from the pre-trained
              model's Run

This package imports none of its modules: `benchmarks` must stay importable
without TensorFlow, so import the module you need.
"""

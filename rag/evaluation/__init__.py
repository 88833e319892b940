"""Batch evaluation of question sets: ``rag eval`` and the browser's Evaluate tab.

One module per stage, imports flowing one way:

- ``questions``: the typed records of a question set.
- ``datasets``: question sets (JSONL, CSV, SQuAD-format JSON such as CMRC 2018 and
  DRCD) read into those records; malformed rows are reported by file and line and
  skipped. The tuning/test split and samples live here too.
- ``metrics``: pure scoring, EM and F1 exactly as the official CMRC 2018 scorer,
  answer containment, hit@k and MRR at chunk level, refusal precision and recall,
  percentiles, and the aggregate ``Summary``.
- ``runner``: ``run_evaluation(settings, question_set, progress) -> EvalReport``:
  prepares the index (a SQuAD file's own passages in a cached index of their own),
  asks every question and scores it.
- ``report``: report.json, report.md, predictions.json and gold.json as data and
  text; ``html_report``: report.html (it reads ``report``); ``report_files``:
  ``write_reports(report, out_dir)`` writes them all.
- ``session``: ``evaluate(settings, question_set, selection, options)``: choose
  the questions, run them, write the reports into a new run folder under
  ``settings.eval_root``. ``rag eval`` and the Evaluate tab both call it.
- ``compare``: two report.json files side by side.
- ``followups``: the follow-up set (``questions/followups.jsonl``) asked end to end,
  each row after its previous question; ``scripts/followup_accuracy.py`` prints it.

The ``rag eval`` argument parsing and progress bars are in ``rag.cli.eval``, nothing more.

The split. CMRC 2018 dev is cut by passage, never by question, so that no passage
is seen in both halves: a passage belongs to the tuning half when the SHA-1 of its
id (UTF-8) is an even number, to the test half when odd. For sets without
passages the key is the question's gold article, else its id.
"""

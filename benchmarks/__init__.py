"""Speed and memory benchmarks: ratios against baselines measured in the same run.

``python -m benchmarks`` runs every ``bench_*.py`` module here (each has ``main(argv)``);
``python -m benchmarks scores`` runs only ``bench_scores``.
"""

#!/usr/bin/env python3
"""sklearn's classification_report for train-head's test score, as golden
text.

Dev-only (the programs and `make test` never need Python).  train-head
prints the chosen head's per-class precision, recall and F1 on the test set
as sklearn.metrics.classification_report(y_true, y_pred,
labels=range(K), target_names=classes, digits=2, zero_division=0) prints
them (train/train_head/score.c).  This script writes, for a few cases,
the labels and sklearn's report, into tests/golden/classification_report.txt,
which tests/test_score.c compares train-head's report with, byte for byte:

  case NAME
  classes NAME|NAME|...
  true N N ...
  pred N N ...
  report LINES
  <the report, LINES lines>

The cases: people answered right and wrong; a person never answered
(precision 0 by zero_division) and one with no test record (recall 0);
a name wider than "weighted avg", and names that are not ASCII (Python
pads by characters, not bytes); every answer right; one class only.

  make dev-env     # scikit-learn among tests/ref/requirements-dev.txt
  build/dev-env/bin/python tests/ref/sklearn_report.py \\
      tests/golden/classification_report.txt
"""
import sys

import numpy as np
import sklearn
from sklearn.metrics import classification_report


def cases():
    rng = np.random.RandomState(7)
    # Five people, mostly right.
    t = rng.randint(0, 5, 60)
    p = np.where(rng.rand(60) < 0.7, t, rng.randint(0, 5, 60))
    yield "mixed", ["Alice", "Bob", "Carol", "Dave", "Eve"], t, p
    # Person 2 never answered; person 3 has no test record.
    t = np.array([0, 0, 1, 1, 2, 2, 4, 4, 4])
    p = np.array([0, 1, 1, 3, 0, 4, 4, 4, 3])
    yield "zero_division", ["Ann", "Ben", "Cy", "Di", "Ed"], t, p
    # A wide name and names beyond ASCII.
    t = rng.randint(0, 4, 40)
    p = np.where(rng.rand(40) < 0.5, t, rng.randint(0, 4, 40))
    yield "names", ["Zoë", "Søren_Kierkegaard", "Ünal", "Maria_Consuelo_de_la_Cruz"], t, p
    t = np.array([0, 1, 2, 2, 1, 0])
    yield "all_right", ["x", "y", "z"], t, t.copy()
    t = np.array([0, 0, 0])
    yield "one_class", ["only", "other"], t, t.copy()


def main():
    out = open(sys.argv[1], "w", encoding="utf-8") if len(sys.argv) > 1 else sys.stdout
    out.write("# tests/ref/sklearn_report.py, scikit-learn %s\n" % sklearn.__version__)
    for name, classes, t, p in cases():
        rep = classification_report(t, p, labels=list(range(len(classes))),
                                    target_names=classes, digits=2, zero_division=0)
        out.write("case %s\n" % name)
        out.write("classes %s\n" % "|".join(classes))
        out.write("true %s\n" % " ".join(str(int(v)) for v in t))
        out.write("pred %s\n" % " ".join(str(int(v)) for v in p))
        lines = rep.split("\n")
        out.write("report %d\n" % len(lines))
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

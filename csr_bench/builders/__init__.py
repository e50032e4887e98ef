"""Builders of benchmark data from COCO-format annotations: POPE questions (pope.py) and the CHAIR
image set (chair_set.py). Both write what a task's ``local:`` folder under --data-root expects."""

"""Drivers written for the tests: `seed_counter` (written from the seed
interface text alone) and `tomato_raising` (a tomato 2.1 driver package whose
task fails; found as driver `raising` when this folder is on the path)."""

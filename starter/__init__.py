"""The course's base training package.

`starter/train.py` is the entry point; every other module here is one concept the loop
uses (config, datasets, models, the training engine, the loop, the run folder, and the
naive default of each seam that an assignment replaces). See README.md for the map.
"""

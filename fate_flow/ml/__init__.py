"""Machine-learning machinery shared by the algorithm components: FATE's shared parameter classes,
Paillier over numpy vectors, optimizers and batching, prediction outputs and evaluation metrics.

Components import from here, the framework and the engine; nothing here knows a component.
"""

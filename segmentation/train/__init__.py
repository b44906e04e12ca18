"""Training the FCN stages: the seeds' recipe (FCN-32s from ImageNet VGG-16, then FCN-16s,
then FCN-8s, batch size one, Adam, random rescaling, pixel-normalised cross-entropy).

* :mod:`segmentation.train.config` -- the options of a run and the recipe's defaults;
* :mod:`segmentation.train.checks` -- bad data found before training, named file by file;
* :mod:`segmentation.train.data` -- the ``tf.data`` input pipeline and its augmentation;
* :mod:`segmentation.train.init` -- a stage's starting weights (VGG-16, a previous stage);
* :mod:`segmentation.train.loop` -- the training loop: checkpoints, resume, logs, validation.
"""

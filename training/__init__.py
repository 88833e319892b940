"""Training the reading model (not part of the installed package).

``retrieve`` indexes the training passages and records what retrieval returns
for every question; ``reads`` turns that into training reads (the chunks a
question meets at question time, and where its answer lies in them); ``states``
runs the set-up's frozen lower layers over every chunk and question once and
keeps their states on disk; ``model`` is the encoder's top layers and the span
head (PyTorch); ``train`` fits it with a checkpoint per epoch; ``export`` writes
the shipped ONNX model and its JSON; ``train_reader`` is the command;
``evaluate_reader`` gives the figures of the shipped files through the code that
answers; ``data`` reads SQuAD-format files (the held-out split for scripts).
"""

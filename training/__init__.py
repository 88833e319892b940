"""Training the reading model of issue 16 (not part of the installed package).

``data`` reads SQuAD-format files, ``features`` runs the set-up's reader ONNX
over passages and questions once and keeps the token states on disk, ``model``
is the head (PyTorch), ``train`` fits it, ``export`` writes the shipped ONNX
head and its JSON, ``train_reader`` is the command, ``evaluate_reader`` the
gold-paragraph figures of the shipped files.
"""

"""Facial recognition on the ORL database with the hand-written CNN (kind "faces").

splits.py (who trains, who tests), images.py (downsampling, scaling, augmentation), models.py (the face
CNN and the pixel MLP as reference Sequential models), baselines.py (scikit-learn eigenfaces,
fisherfaces, 1-NN), engine.py (training through experiments/train.py), metrics.py (rejection and
verification), kind.py (the runner's kind), report.py (tables and plots).
"""

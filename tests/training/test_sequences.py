import torch

from captioner.training.sequences import pad_batch, teacher_forcing_pair


def test_pad_batch_right_pads_and_truncates():
    batch = pad_batch([[1, 5, 2], [1, 6, 7, 8, 2]])
    assert batch.tolist() == [[1, 5, 2, 0, 0], [1, 6, 7, 8, 2]]
    assert pad_batch([[1, 5, 6, 7, 2]], max_length=3).tolist() == [[1, 5, 6]]


def test_teacher_forcing_shifts_by_one():
    inputs, targets = teacher_forcing_pair(torch.tensor([[1, 5, 6, 2, 0]]))
    assert inputs.tolist() == [[1, 5, 6, 2]]
    assert targets.tolist() == [[5, 6, 2, 0]]

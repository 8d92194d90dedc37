"""Assignment 1: a better network than CNNSimple, for 1x28x28 and 3x32x32 inputs.

Registered in starter/seams.py as `model.name=better_cnn`; the trainer builds it as
`BetterCNN(in_channels=..., num_classes=..., image_size=...)`.

Three stages of 3x3 convolution, batch norm and ReLU, each followed by 2x2 max-pooling,
then one linear layer on the flattened 3x3 (MNIST) or 4x4 (CIFAR) feature map. Batch
norm is what lets it train fast at a high learning rate. Widths are chosen for a 2-core
CPU: about 3 million multiply-adds per MNIST image (CNNSimple: 3.1 million), 34k
parameters (CNNSimple: 215k); colour images get twice the width in the later stages,
since CIFAR-10 needs the capacity far more than MNIST does.
"""

from __future__ import annotations

import torch
from torch import nn


class BetterCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        raise NotImplementedError("A1: implement BetterCNN.__init__ in assignments/assignment_01/model.py")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("A1: implement BetterCNN.forward in assignments/assignment_01/model.py")

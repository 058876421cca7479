"""The course's models in one place: the seeds' SimpleCNN, LeNet-5, a CIFAR ResNet and a small student.

| name | data | parameters |
|---|---|---|
| ``simple_cnn`` | MNIST | 21,840 (conv 1→10→20, fc 320→50→10) |
| ``lenet5`` | MNIST | 61,706 (LeCun et al. 1998, padded input) |
| ``lenet5_caffe`` | MNIST | 431,080 (conv 20, conv 50, fc 500, fc 10: Deep Compression's LeNet-5) |
| ``resnet20`` | CIFAR-10 | 272,474 (He et al. 2016, 1×1-conv shortcuts) |
| ``student_cnn`` | CIFAR-10 | 24,346 (three conv blocks + global pooling) |
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    """The seed articles' MNIST network (the classic PyTorch MNIST example)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(0.25)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.dropout(x, 0.25, training=self.training)
        return self.fc2(x)


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling; 28×28 input padded to 32×32 by the first conv."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5Caffe(nn.Module):
    """The Caffe LeNet-5 used by Deep Compression (Han et al. 2016): 431 k parameters, 1.7 MB in fp32."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class BasicBlock(nn.Module):
    """Two 3×3 convs with BatchNorm; a 1×1 conv shortcut where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32×32 images (He et al. 2016, §4.2): depth = 6n + 2, widths 16/32/64."""

    def __init__(self, depth: int = 20, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n ≥ 1 (8, 14, 20, 32, ...), got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, channels = [], width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(BasicBlock(channels, out_channels, stride))
                channels = out_channels
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class StudentCNN(nn.Module):
    """A small CIFAR-10 CNN (about 1/10 of ResNet-20's parameters) for distillation."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "simple_cnn": SimpleCNN,
    "lenet5": LeNet5,
    "lenet5_caffe": LeNet5Caffe,
    "resnet8": lambda: CifarResNet(8),
    "resnet20": lambda: CifarResNet(20),
    "student_cnn": StudentCNN,
}
INPUT_SHAPES = {"simple_cnn": (1, 28, 28), "lenet5": (1, 28, 28), "lenet5_caffe": (1, 28, 28),
                "resnet8": (3, 32, 32), "resnet20": (3, 32, 32), "student_cnn": (3, 32, 32)}  # fmt: skip


def build_model(name: str) -> nn.Module:
    """A freshly initialised model by name (see the table in this module's docstring)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def example_input(name: str, batch_size: int = 1) -> torch.Tensor:
    """A random input of the right shape for model ``name`` (for timing and export)."""
    if name not in INPUT_SHAPES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(INPUT_SHAPES)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return torch.randn(batch_size, *INPUT_SHAPES[name], generator=torch.Generator().manual_seed(0))

"""CNCL (Geng et al., IEEE TMI 2022), the learned baseline of Valdivia Ortega et al.: architecture and training.

Content-noise complementary learning: two U-Nets read the noisy image, one predicts the content (the clean
image), the other the noise; the noise branch's content (input minus noise) and the content branch's output
are fused by a 1 x 1 convolution. Training adds a PatchGAN discriminator (least-squares GAN loss) to an L1 loss
on content and noise weighted 100. Built here from the description of the authors' public PyTorch code
(github.com/gengmufeng/CNCL-denoising, ``code/model.py`` and ``code/train.py``); nothing of it is copied:

* each branch: four levels of two 3 x 3 convolutions with batch normalisation and ReLU (``w, 2w, 4w, 8w``
  channels) and 2 x 2 max pooling, a bottom of ``16w`` then ``8w`` channels, bilinear upsampling (corners
  aligned) and two convolutions per level on the way up; the last level has two plain convolutions
  (``2w -> w/2 -> 1``), without normalisation or activation; the code also declares two batch-normalisation
  layers per branch that its forward pass never uses (``w/2`` and 64 channels), which count as parameters;
* the discriminator sees the predicted (content, noise) pair beside the noisy input: 3 channels, four 4 x 4
  stride-2 convolutions (64 to 512, instance normalisation after the first), a 4 x 4 output convolution;
* Adam with learning rate 2e-5 and betas (0.5, 0.999), batch 2, 300 epochs of 512 x 512 images, weights drawn
  from N(0, 0.02).

At ``width=64`` the generator has 43,825,413 parameters and the discriminator 2,764,736; the paper's Table 3
gives 47.83 M (neither count, nor their sum, 46.59 M). Training that model is for a GPU; on two CPU cores the
chapter trains a reduced-width version (``width=8``), labelled as such, which is no evidence about the paper's
CNCL.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from ...train import seed_everything

GAN_PIXEL_WEIGHT = 100.0
PAPER_TRAINING = dict(lr=2e-5, betas=(0.5, 0.999), batch=2, epochs=300, size=512)


def _block(cin: int, cout: int) -> nn.ModuleList:
    return nn.ModuleList([nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout)])


class Branch(nn.Module):
    """One CNCL U-Net: (N, 1, H, W) -> (N, 1, H, W); H, W divisible by 16."""

    def __init__(self, width: int = 64):
        super().__init__()
        c = [width * 2 ** k for k in range(5)]
        self.down = nn.ModuleList()
        cin = 1
        for level in range(4):
            self.down.append(nn.ModuleList([*_block(cin, c[level]), *_block(c[level], c[level])]))
            cin = c[level]
        self.bottom = nn.ModuleList([*_block(c[3], c[4]), *_block(c[4], c[3])])
        self.up = nn.ModuleList([nn.ModuleList([*_block(2 * c[k], c[k]), *_block(c[k], c[k - 1])])
                                 for k in (3, 2, 1)])
        self.last = nn.ModuleList([nn.Conv2d(2 * c[0], width // 2, 3, padding=1), nn.Conv2d(width // 2, 1, 3, padding=1)])
        # declared in the original, never used by its forward pass: kept so that the parameter count is the original's
        self.unused = nn.ModuleList([nn.BatchNorm2d(width // 2), nn.BatchNorm2d(64)])

    @staticmethod
    def _two(layers, x):
        x = F.relu(layers[1](layers[0](x)))
        return F.relu(layers[3](layers[2](x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.down:
            x = self._two(level, x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self._two(self.bottom, x)
        for level, skip in zip(self.up, reversed(skips[1:])):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            x = self._two(level, torch.cat([x, skip], dim=1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.last[1](self.last[0](torch.cat([x, skips[0]], dim=1)))


class CNCL(nn.Module):
    """The generator: ``forward(x)`` -> (N, 2, H, W), channel 0 the fused content, channel 1 the predicted noise.
    Images on [0, 1] (the chapter divides its 0–255 images by 255); H, W divisible by 16."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.content, self.noise = Branch(width), Branch(width)
        self.fusion = nn.Conv2d(2, 1, 1)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.noise(x)
        content = self.fusion(torch.cat([self.content(x), x - noise], dim=1))
        return torch.cat([content, noise], dim=1)


class PatchDiscriminator(nn.Module):
    """PatchGAN on (prediction, noisy input) pairs: (N, 2, H, W) and (N, 1, H, W) -> (N, 1, H/16, W/16)."""

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        c = [width, 2 * width, 4 * width, 8 * width]
        layers, cin = [], in_channels
        for k, cout in enumerate(c):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
            if k > 0:
                layers += [nn.InstanceNorm2d(cout)]
            layers += [nn.LeakyReLU(0.2)]
            cin = cout
        layers += [nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(c[-1], 1, 4, padding=1, bias=False)]
        self.model = nn.Sequential(*layers)

    def forward(self, prediction: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([prediction, noisy], dim=1))


def init_normal(module: nn.Module) -> None:
    """The original's start: convolution weights from N(0, 0.02), batch-norm scales from N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Denoiser(nn.Module):
    """A trained CNCL as a 0–255 denoiser: ``noisy -> content`` (padded by reflection to a multiple of 16)."""

    def __init__(self, generator: CNCL):
        super().__init__()
        self.generator = generator.eval()

    @torch.no_grad()
    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        h, w = noisy.shape[-2:]
        ph, pw = (-h) % 16, (-w) % 16
        x = F.pad(noisy / 255.0, (0, pw, 0, ph), mode="reflect") if ph or pw else noisy / 255.0
        return self.generator(x)[:, :1, :h, :w] * 255.0


def train(generator: CNCL, discriminator: PatchDiscriminator, pairs: tuple[torch.Tensor, torch.Tensor], steps: int,
          batch: int, seed: int, lr: float = 2e-4, progress: bool = True, desc: str = "CNCL") -> dict:
    """The original's training step (L1 on content and noise times 100 plus the least-squares GAN loss, then the
    discriminator's) for ``steps`` steps on 0–255 ``(noisy, clean)`` pairs scaled to [0, 1]; Adam with betas
    (0.5, 0.999). Returns the losses and the time taken."""
    from tqdm.auto import tqdm

    seed_everything(seed)
    init_normal(generator), init_normal(discriminator)
    noisy, clean = pairs[0] / 255.0, pairs[1] / 255.0
    target = torch.cat([clean, noisy - clean], dim=1)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=PAPER_TRAINING["betas"])
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=PAPER_TRAINING["betas"])
    gen = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.perf_counter()
    generator.train(), discriminator.train()
    for _ in tqdm(range(steps), desc=desc, disable=not progress):
        idx = torch.randint(noisy.shape[0], (batch,), generator=gen)
        x, y = noisy[idx], target[idx]
        fake = generator(x)
        pred = discriminator(fake, x)
        loss_pixel = F.l1_loss(fake, y)
        loss_g = F.mse_loss(pred, torch.ones_like(pred)) + GAN_PIXEL_WEIGHT * loss_pixel
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        real_pred, fake_pred = discriminator(y, x), discriminator(fake.detach(), x)
        loss_d = 0.5 * (F.mse_loss(real_pred, torch.ones_like(real_pred)) +
                        F.mse_loss(fake_pred, torch.zeros_like(fake_pred)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        losses.append(float(loss_pixel.detach()))
    generator.eval()
    return {"seconds": time.perf_counter() - t0, "steps": steps, "final_pixel_loss": sum(losses[-10:]) / min(10, len(losses)),
            "loss_curve": losses, "lr": lr, "width": generator.width}

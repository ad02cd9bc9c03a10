"""Constants shared by the models, the datasets and the inference API.

Kept free of any import from the package so that every layer can use it.
"""

from typing import Tuple

#: ImageNet RGB mean in [0, 1] units, the normalization of DINOv2 / Depth Anything V2.
IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
#: ImageNet RGB standard deviation in [0, 1] units.
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)

__all__ = ['IMAGENET_MEAN', 'IMAGENET_STD']

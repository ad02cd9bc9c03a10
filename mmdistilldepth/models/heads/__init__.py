from .dpt_head import DPTHead, FeatureFusionBlock, ResidualConvUnit

__all__ = ['DPTHead', 'FeatureFusionBlock', 'ResidualConvUnit']

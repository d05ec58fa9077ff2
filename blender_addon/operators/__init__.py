"""One operator per module; `classes` is what the add-on registers."""

from .choose_checkpoint import A2F_OT_choose_checkpoint
from .generate import A2F_OT_generate
from .mapping_preset import A2F_OT_mapping_preset
from .retarget_preset import A2F_OT_load_preset, A2F_OT_save_preset, A2F_OT_use_preset

classes = (A2F_OT_generate, A2F_OT_mapping_preset, A2F_OT_choose_checkpoint, A2F_OT_use_preset,
           A2F_OT_load_preset, A2F_OT_save_preset)

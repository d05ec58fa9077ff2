"""The `a2f` command (main.py) and its numpy-only `a2f infer` (infer.py); the training
subcommands live in training/ and are imported only when run, so `a2f infer` never imports torch.
The add-on zip leaves this folder out: Blender has no command line to run."""

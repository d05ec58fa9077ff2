"""Generate from Audio: bake the panel's audio onto the target mesh.

Invoked from the UI it runs modal: a timer computes one chunk of frames per tick (progress in
the status bar), Esc cancels, and nothing is written until the last chunk, so a cancelled bake
leaves the file as it was. Called from a script (EXEC) it bakes in one go. Either way the bake
is one undo step.
"""

import bpy

from .. import checkpoints, compat, core, preferences, properties
from ..core import A2FError


def problem(context):
    """Why the bake cannot run now (shown on the disabled button), or None."""
    settings = context.scene.a2f
    obj = settings.target_object(context)
    if obj is None:
        return "Select the face mesh or set a target mesh"
    if obj.type not in ('MESH', 'ARMATURE'):
        return f"'{obj.name}' is not a mesh or an armature; select the face mesh or rig"
    if obj.mode not in ('OBJECT', 'POSE'):
        return f"'{obj.name}' is in {obj.mode.title()} mode; switch to Object Mode"
    from .. import bake  # the inference core loads on first use, not when the add-on registers
    linked = bake.not_editable(obj)
    if linked:
        return linked
    if settings.source == 'STRIP' and settings.sound_strip(context.scene) is None:
        if settings.strip:
            return f"'{settings.strip}' is not a sound strip of this scene; choose another"
        if compat.sound_strips(context.scene):
            return "Every sound strip is muted; unmute one, or choose it in the Strip field"
        return "Add a sound strip in the Sequencer, or choose an audio file"
    if settings.source == 'FILE' and not settings.audio_path:
        return "Choose an audio file"
    if not settings.checkpoint_path and not core.models.DEFAULT_WEIGHTS.is_file():
        return "Choose a checkpoint file (this build has no bundled model)"
    return None


def build_job(context):
    """A bake.BakeJob for the scene's a2f settings; A2FError when an input is unusable."""
    from .. import audio_source, bake, emotion_mix, life_bake
    from .retarget_preset import load as load_preset
    scene = context.scene
    settings = scene.a2f
    checkpoint = checkpoints.load(settings.checkpoint_path)
    if settings.source == 'STRIP':
        clip = audio_source.clip_from_strip(scene, settings.sound_strip(scene), settings.offset_ms)
    else:
        clip = audio_source.clip_from_file(scene, settings.audio_path, settings.offset_ms)
    controls = properties.emotion_controls(scene, clip.frames)
    emotion = emotion_mix.mix(checkpoint.emotions, *controls)
    label = emotion_mix.label(*(c[0] for c in controls))
    vertex_output = settings.vertex_output
    if vertex_output == 'DEFAULT':
        prefs = preferences.get(context)
        vertex_output = prefs.vertex_output if prefs is not None else 'SHAPE_KEYS'
    options = bake.BakeSettings(vertex_output=vertex_output, overrides=settings.overrides(),
                                create_missing_keys=settings.create_missing_keys,
                                cache_dir=settings.cache_dir, lip_contact=settings.lip_contact,
                                emotion_label=label, blend_type=settings.blend_type,
                                preset=load_preset(settings.retarget_preset),
                                life=life_bake.from_scene(settings, *controls))
    return bake.BakeJob(settings.target_objects(context), clip, checkpoint, emotion, options)


class A2F_OT_generate(bpy.types.Operator):
    bl_idname = "a2f.generate"
    bl_label = "Generate from Audio"
    bl_description = "Animate the target mesh from the chosen audio with the a2f network"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        reason = problem(context)
        if reason:
            cls.poll_message_set(reason)
        return reason is None

    def execute(self, context):
        try:
            job = build_job(context)
            result = job.run()
        except A2FError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        self._report_done(context, job, result)
        return {'FINISHED'}

    def invoke(self, context, event):
        try:
            self._job = build_job(context)
        except A2FError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type == 'ESC':
            self._stop(context)
            self.report({'WARNING'}, "a2f bake cancelled; nothing was changed")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'RUNNING_MODAL'}  # the scene must not change under a running bake
        try:
            if not self._job.step():
                percent = int(100 * self._job.progress)
                context.window_manager.progress_update(percent)
                context.workspace.status_text_set(f"a2f: baking {percent}%  (Esc to cancel)")
                return {'RUNNING_MODAL'}
            result = self._job.apply()
        except A2FError as e:
            self._stop(context)
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        self._stop(context)
        self._report_done(context, self._job, result)
        return {'FINISHED'}

    def _stop(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)

    def _report_done(self, context, job, result):
        settings = context.scene.a2f
        if settings.source == 'FILE':
            from .. import audio_source
            audio_source.show_in_scene(context.scene, job.clip, settings.audio_path,
                                       settings.add_sound_strip, settings.extend_frame_range)
        text = result.summary(job.clip, job.obj)
        strip = (compat.find_sound_strip(context.scene, job.clip.name)
                 if context.scene.a2f.source == 'STRIP' else None)
        if strip is not None and strip.mute:
            text += f"; note: strip '{strip.name}' is muted"
        context.scene.a2f.last_report = text
        self.report({'WARNING'} if result.unmatched else {'INFO'}, text)

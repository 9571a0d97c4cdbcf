"""The storage wing: how sessions become bytes and back; later also the stores and the cache.

`codec` turns a session into parts and back (`dumps`, `loads`, `unsaved`); `blob` is the
layout of one part, `undo` the part that holds the undo and redo stacks.
"""

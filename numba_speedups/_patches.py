"""A journal of every change the speed-ups make to PyTensor and Numba, so
that a failed or undone installation leaves both exactly as they were (and
glibc's malloc settings at its starting values: see heap_reuse)."""
import gc

from pytensor.link.numba.dispatch import basic as numba_basic

# the three registries PyTensor's Numba backend looks an op's code up in
DISPATCHERS = (numba_basic.numba_funcify,
               numba_basic.numba_funcify_default_op_cache_key,
               numba_basic.numba_funcify_and_cache_key)


def _registry_dict(dispatcher):
    # singledispatch shows its registry read-only; the dict behind it is the
    # one object the read-only view refers to
    (registry,) = [r for r in gc.get_referents(dispatcher.registry) if isinstance(r, dict)]
    return registry


class Patches(object):
    def __init__(self):
        self._undo = []

    def funcify(self, register, op_type, implementation):
        """register is one of PyTensor's decorators
        (register_funcify_default_op_cache_key, register_funcify_and_cache_key)."""
        saved = [(d, dict(_registry_dict(d))) for d in DISPATCHERS]

        def restore():
            for dispatcher, before in saved:
                registry = _registry_dict(dispatcher)
                registry.clear()
                registry.update(before)
                dispatcher._clear_cache()
        self._undo.append(restore)
        register(op_type)(implementation)

    def rewrite(self, db, name, rewriter, *tags, position):
        """Register a graph rewrite in a SequenceDB such as PyTensor's optdb."""
        keys_before = set(db.__db__)
        self._undo.append(lambda: _unregister(db, name, keys_before))
        db.register(name, rewriter, *tags, position=position)

    def setattr(self, obj, attribute, value):
        before = getattr(obj, attribute)
        self._undo.append(lambda: setattr(obj, attribute, before))
        setattr(obj, attribute, value)

    def on_undo(self, action):
        """action() will put back a change made outside PyTensor and Numba."""
        self._undo.append(action)

    def undo(self):
        while self._undo:
            self._undo.pop()()


def _unregister(db, name, keys_before):
    if name not in db._names:
        return
    (rewriter,) = db.__db__[name]
    for key in list(db.__db__):
        db.__db__[key].discard(rewriter)
        if key not in keys_before:
            del db.__db__[key]
    db._names.discard(name)
    db.__position__.pop(name, None)

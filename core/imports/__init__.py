"""Imports (数据导入): files of any size into leads, customers, contacts, deals ... — all or nothing,
every rejected row explained, every batch undoable.

  spec.py     ImportField, ObjectSpec, Options, Ctx, register, OBJECTS, spec_for
  engine.py   preview / commit / undo / batches / error_file / run_file (set-based, one unit of work)
  mapping.py  suggest / mappings / save_mapping / unknown_values
  objects.py  more objects (deals, orders, tickets, campaign results, users ...)
"""
from core.imports.spec import OBJECTS, Ctx, ImportField, ObjectSpec, Options, register, spec_for  # noqa: F401
from core.imports import builtin  # noqa: F401,E402  (customers, leads, contacts)

try:  # more objects (engineer I4); the engine works without them
    from core.imports import objects  # noqa: F401,E402
except ImportError:  # pragma: no cover
    pass


def _keys_job(con, now):  # search and name keys of big batches, should their run stop after the commit
    from core.imports import engine

    return engine.fill_keys(con)


try:
    from core import scheduler as _scheduler

    _scheduler.register("import_keys", 300, _keys_job)
except Exception:  # pragma: no cover - the scheduler is optional here
    pass

"""hpsweep: a Python client of the hpsweep coordinator, and a helper for trial programs.

    import hpsweep
    with hpsweep.Client("127.0.0.1:50051") as c:
        sweep = c.submit("sweeps/quickstart.yaml")
        for progress in c.watch(sweep):
            s = progress["sweeps"][0]
            print(s["done"], "of", s["total"], "done, best", s["metric"], s["best"])
        best = c.leaderboard(sweep, top=1)[0]
        print(best["params"]["units"], best["val_accuracy"])

Client (hpsweep/client.py) has the calls; every failure is an hpsweep.Error (hpsweep/errors.py).

hpsweep.trial (hpsweep/trial.py) is for a training program that a worker runs as a trial
(docs/programs.md): it reads the trial's params and reports epochs with the standard library
alone. So that `import hpsweep.trial` works where grpcio and protobuf are not installed, the
client's names are imported lazily (PEP 562): the first use of hpsweep.Client (or of any other
name in __all__ that comes from client.py) imports the gRPC client.
"""

import importlib

__version__ = "0.1.0"
__all__ = ["Client", "DEFAULT_ADDRESS", "DeadlineExceeded", "Error", "FINISHED_STATES",
           "FailedPrecondition", "InvalidArgument", "NotFound", "PermissionDenied",
           "ResourceExhausted", "Unauthenticated", "Unavailable", "message_to_dict",
           "sweep_status", "typed_params"]

# Each public name and the submodule that defines it; imported on first use.
_LAZY = {
    "Client": "client", "DEFAULT_ADDRESS": "client", "FINISHED_STATES": "client",
    "message_to_dict": "client", "sweep_status": "client",
    "DeadlineExceeded": "errors", "Error": "errors", "FailedPrecondition": "errors",
    "InvalidArgument": "errors", "NotFound": "errors", "PermissionDenied": "errors",
    "ResourceExhausted": "errors", "Unauthenticated": "errors", "Unavailable": "errors",
    "typed_params": "_params",
}


def __getattr__(name):
    """Imports the submodule that defines `name` on first use, then keeps the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'hpsweep' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

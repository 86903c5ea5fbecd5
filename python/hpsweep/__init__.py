"""hpsweep: a Python client of the hpsweep coordinator.

    import hpsweep
    with hpsweep.Client("127.0.0.1:50051") as c:
        sweep = c.submit("sweeps/quickstart.yaml")
        for progress in c.watch(sweep):
            s = progress["sweeps"][0]
            print(s["done"], "of", s["total"], "done, best", s["metric"], s["best"])
        best = c.leaderboard(sweep, top=1)[0]
        print(best["params"]["units"], best["val_accuracy"])

Client (hpsweep/client.py) has the calls; every failure is an hpsweep.Error (hpsweep/errors.py).
"""

from .client import DEFAULT_ADDRESS, FINISHED_STATES, Client, message_to_dict, sweep_status
from .errors import (DeadlineExceeded, Error, FailedPrecondition, InvalidArgument, NotFound,
                     PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from ._params import typed_params

__version__ = "0.1.0"
__all__ = ["Client", "DEFAULT_ADDRESS", "DeadlineExceeded", "Error", "FINISHED_STATES",
           "FailedPrecondition", "InvalidArgument", "NotFound", "PermissionDenied",
           "ResourceExhausted", "Unauthenticated", "Unavailable", "message_to_dict",
           "sweep_status", "typed_params"]

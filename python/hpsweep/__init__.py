"""hpsweep: a Python client of the hpsweep coordinator.

    import hpsweep
    with hpsweep.Client("127.0.0.1:50051") as c:
        sweep = c.submit("sweeps/quickstart.yaml")
        for progress in c.watch(sweep):
            print(progress["sweeps"][0]["completed"], "done")
        best = c.leaderboard(sweep, top=1)[0]
        print(best["params"]["units"], best["val_accuracy"])

Client (hpsweep/client.py) has the calls; every failure is an hpsweep.Error (hpsweep/errors.py).
"""

from .client import DEFAULT_ADDRESS, Client, message_to_dict
from .errors import (DeadlineExceeded, Error, FailedPrecondition, InvalidArgument, NotFound,
                     PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from ._params import typed_params

__version__ = "0.1.0"
__all__ = ["Client", "DEFAULT_ADDRESS", "DeadlineExceeded", "Error", "FailedPrecondition",
           "InvalidArgument", "NotFound", "PermissionDenied", "ResourceExhausted",
           "Unauthenticated", "Unavailable", "message_to_dict", "typed_params"]

// The Storage interface moved to coordinator/store/storage.h (hpsweep_store). This header only
// forwards there, for cli/client.h, which still names the old path; once that include names the
// new one, this file goes.
#ifndef HPSWEEP_COORDINATOR_STORAGE_H_
#define HPSWEEP_COORDINATOR_STORAGE_H_

#include "coordinator/store/storage.h"

#endif  // HPSWEEP_COORDINATOR_STORAGE_H_

// Lock discipline stated for the compiler: clang's -Wthread-safety analysis checks these
// attributes (GUARDED_BY on a field, REQUIRES on a function that needs a lock held, ...); other
// compilers see nothing. The names are leveldb's and abseil's. CI builds the coordinator with
// clang -Wthread-safety -Werror=thread-safety (scripts/check_thread_safety.sh), so a field read
// without its lock fails the build.
//
// Thread-safety: macros only.
#ifndef HPSWEEP_BASE_THREAD_ANNOTATIONS_H_
#define HPSWEEP_BASE_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define HPSWEEP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HPSWEEP_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) HPSWEEP_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY HPSWEEP_THREAD_ANNOTATION(scoped_lockable)
#ifndef GUARDED_BY  // (abseil's legacy header, which gRPC includes, defines it the same way)
#define GUARDED_BY(x) HPSWEEP_THREAD_ANNOTATION(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY  // (abseil's legacy header, which gRPC includes, defines it the same way)
#define PT_GUARDED_BY(x) HPSWEEP_THREAD_ANNOTATION(pt_guarded_by(x))
#endif
#define REQUIRES(...) HPSWEEP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) HPSWEEP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) HPSWEEP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) HPSWEEP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) HPSWEEP_THREAD_ANNOTATION(assert_capability(x))
#ifndef NO_THREAD_SAFETY_ANALYSIS  // (abseil's legacy header, which gRPC includes, defines it the same way)
#define NO_THREAD_SAFETY_ANALYSIS HPSWEEP_THREAD_ANNOTATION(no_thread_safety_analysis)
#endif

#endif  // HPSWEEP_BASE_THREAD_ANNOTATIONS_H_

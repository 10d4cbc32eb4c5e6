// A cache prefetch hint for Swift, which has none of its own. Only module Clearing imports it:
// its tables of cards and keys are read at random, and reading the entries of the next cards
// with ordinary loads makes the processor wait for each group of them before it goes on.
#ifndef CPrefetch_h
#define CPrefetch_h

/// Asks the processor to bring the cache line holding `address` in, for reading, without
/// waiting for it (`__builtin_prefetch`): no fault, no effect on what the program computes.
static inline __attribute__((always_inline)) void onecard_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif

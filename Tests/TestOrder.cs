using Xunit;

// One test at a time. On the 2-core machines this suite runs on, a training or report test beside a multi-process
// test starves the processes' failure detectors (a healthy worker declared lost changes the model), and the tests
// that read process-wide state (the serializer's rejection counter, metric and activity listeners, whole-process
// memory) would see other tests' work. Serial runs make both exact.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

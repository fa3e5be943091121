"""Job processes: the runner, its staging store and the results writer."""

# What the fork servers of job processes (`sugo.platform.forkserver`) import
# before they fork: a runner only moves bytes; a writer also needs NetCDF.
# sugo.protocol.curve (and keys): every runner talks CURVE to the daemon and
# its hosts; imported after the fork it cost each runner ~4 ms of CPU.
RUNNER_MODULE = "sugo.jobs.runner"
RUN_PRELOAD = ("zmq", "sugo.jobs.staging_writer", "sugo.logs", "sugo.protocol.curve")
WRITE_PRELOAD = (*RUN_PRELOAD, "h5netcdf", "numpy", "sugo.jobs.staging", "sugo.jobs.writer")

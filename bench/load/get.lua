-- wrk: GET of the path given on the command line.
done = dofile(os.getenv("SLUICE_BENCH_LOAD_DIR") .. "/report.lua")

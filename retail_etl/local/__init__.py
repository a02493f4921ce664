"""The laptop harness: never imported by job code, and not in the wheel Glue installs.

`postgres` (a throwaway PostgreSQL cluster run as an unprivileged user), `sample` (the
deterministic sample source), `runner` (the nightly flow in one local Spark session), `crawler`
(the local stand-in for the crawlers of the `--CATALOG crawlers` mode) and `cli` (`retail-etl`,
`python -m retail_etl.local`). What a job itself reads off Glue, the environment of
`retail_etl.settings.LocalEnvironment` and the local Spark session of `retail_etl.runtime`,
stays with the job code: `spark-submit jobs/<job>.py` runs the jobs with nothing of this
package.
"""

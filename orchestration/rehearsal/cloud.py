"""The stack, deployed into moto's server on 127.0.0.1, and a night run through it.

What is made there comes from the rendered template (`ResolvedStack`): the three roles with
their statements, the Glue database and six tables, the three jobs with their default
arguments, the state machine with its definition and substitutions. The deploy's own artifacts
(`orchestration.deploy.build_artifacts`: the job scripts and the wheel) are uploaded as
`make deploy` uploads them. A Glue job run started by the state machine runs the real job: its
script and wheel fetched from the artifacts bucket with the Glue role's credentials, then
`python <script> --JOB_NAME ... --JOB_RUN_ID ... <the run's arguments>` as a process of its
own, with the Glue role's session in its environment and AWS_ENDPOINT_URL at the server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from orchestration import deploy, template
from orchestration import resources as r
from orchestration.rehearsal import authorization as authz
from orchestration.rehearsal.recorder import Recorder
from orchestration.rehearsal.stack import ResolvedStack
from retail_etl.settings import S3A_JARS_CACHE, SourceDb

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = authz.Account("123456789012", "ap-northeast-2")  # moto's default account
PREFIX = "rehearsal"
LAKE_BUCKET = "rehearsal-hist-retail-lake"
ARTIFACTS_BUCKET = r.artifacts_bucket_name(PREFIX, ACCOUNT.account, ACCOUNT.region)
HARNESS_KEY = "AKIAREHEARSALHARNESS"  # the deployer's calls: not any role of the stack
# moto's Step Functions interpreter signs its service calls with this fixed key
# (moto.stepfunctions.parser.asl.utils.boto_client): they are the state machine role's.
INTERPRETER_KEY = "ak"
JOB_POLL_SECONDS = 1.0
S3A_JARS_FILE = REPO / "scripts" / "jars.txt"
JAR_CACHE = S3A_JARS_CACHE


def s3a_jars() -> list[str]:
    """The jars `make setup` put in the cache for S3A (scripts/jars.txt), each checked present."""
    jars = []
    for line in S3A_JARS_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        group_artifact_version = line.split()[0]
        _, artifact, version = group_artifact_version.split(":")
        path = JAR_CACHE / f"{artifact}-{version}.jar"
        if not path.is_file():
            raise RuntimeError(f"{path} is missing: run `make setup`")
        jars.append(str(path))
    return jars


@dataclass
class JobProcess:
    """A Glue job run executing as a local process."""

    run_id: str
    job: str
    process: subprocess.Popen[bytes] | None  # None: it could not be started
    log: Path
    error: str | None = None

    def state(self) -> tuple[str, str | None]:
        if self.process is None:
            return "FAILED", self.error
        code = self.process.poll()
        if code is None:
            return "RUNNING", None
        if code == 0:
            return "SUCCEEDED", None
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ": error: " in ln]
        return "FAILED", (errors or lines or [f"exit {code}"])[-1]


@dataclass
class Rehearsal:
    """moto's server with the stack in it; `night` runs a day through it."""

    work: Path
    source: SourceDb
    lake_bucket: str = LAKE_BUCKET
    recorder: Recorder | None = None
    endpoint: str = ""
    stack: ResolvedStack | None = None
    roles_by_key: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> credentials
    jobs: dict[str, JobProcess] = field(default_factory=dict)
    state_machine_arn: str = ""
    _server: Any = None
    _thread: threading.Thread | None = None
    _undo: list[Any] = field(default_factory=list)

    # -- the server ---------------------------------------------------------------------------
    def start(self) -> None:
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self.work.mkdir(parents=True, exist_ok=True)
        # moto's interpreter logs each failed state with its whole parse tree at ERROR; the
        # rehearsal reports failures itself, from the execution and the job runs.
        moto_log = logging.getLogger("moto")
        level = moto_log.level
        moto_log.setLevel(logging.CRITICAL)
        self._undo.append(lambda: moto_log.setLevel(level))
        self.recorder = Recorder(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", 0, self.recorder, threaded=True, request_handler=QuietHandler
        )
        port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # The interpreter sends its service calls to localhost:MOTO_PORT (server mode).
        self._set_env("MOTO_PORT", str(port))
        # moto keeps its backends per process, not per server: start from none, as an account
        # that has never been deployed to
        self._reset_moto()
        sfn_config = default_user_config["stepfunctions"]
        previous = sfn_config.get("execute_state_machine", False)
        sfn_config["execute_state_machine"] = True
        self._undo.append(lambda: sfn_config.__setitem__("execute_state_machine", previous))
        self._install_moto_bridges()

    def _reset_moto(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def _set_env(self, key: str, value: str) -> None:
        previous = os.environ.get(key)
        os.environ[key] = value
        self._undo.append(
            lambda: (
                os.environ.pop(key, None)
                if previous is None
                else os.environ.update({key: previous})
            )
        )

    def stop(self) -> None:
        for job in self.jobs.values():
            if job.process is not None and job.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait()
        if self._server is not None:
            self._reset_moto()  # the rehearsal's state goes with it
            self._server.shutdown()
        while self._undo:
            self._undo.pop()()

    def client(self, service: str, credentials: Mapping[str, str] | None = None) -> Any:
        keys = credentials or {"aws_access_key_id": HARNESS_KEY, "aws_secret_access_key": "x"}
        return boto3.client(service, region_name=ACCOUNT.region, endpoint_url=self.endpoint, **keys)

    # -- moto as AWS behaves ------------------------------------------------------------------
    def _install_moto_bridges(self) -> None:
        from moto.glue import models as glue_models
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk,
            state_task_service_glue,
        )

        from orchestration.rehearsal import moto_bridge

        rehearsal = self
        patches: list[tuple[Any, str, Any]] = [
            (
                state_task_service_glue.StateTaskServiceGlue,
                "_eval_integration_pattern",
                moto_bridge.glue_sync(JOB_POLL_SECONDS),
            ),
        ]
        original_start = glue_models.FakeJob.start_job_run
        original_as_dict = glue_models.FakeJobRun.as_dict

        def start_job_run(job: Any, *args: Any, **kwargs: Any) -> str:
            run_id = original_start(job, *args, **kwargs)
            run = job.job_runs[-1]
            try:
                rehearsal._run_job(job, run)
            except Exception as err:  # the run fails with the reason, as a Glue run would
                rehearsal.jobs[run.job_run_id] = JobProcess(
                    run.job_run_id, job.name, None, Path(os.devnull),
                    f"the rehearsal could not start the run: {type(err).__name__}: {err}",
                )  # fmt: skip
            return str(run_id)

        def job_run_as_dict(run: Any) -> dict[str, Any]:
            data = original_as_dict(run)
            running = rehearsal.jobs.get(run.job_run_id)
            if running is not None:
                data["JobRunState"], message = running.state()
                if message:
                    data["ErrorMessage"] = message
            return dict(data)

        patches += [
            (glue_models.FakeJob, "start_job_run", start_job_run),
            (glue_models.FakeJobRun, "as_dict", job_run_as_dict),
        ]
        for owner, name, replacement in patches:
            own = name in owner.__dict__  # else inherited: undone by removing the override
            saved = owner.__dict__.get(name)
            setattr(owner, name, replacement)
            self._undo.append(
                lambda o=owner, n=name, s=saved, own=own: setattr(o, n, s) if own else delattr(o, n)
            )
        names = state_task_service_aws_sdk._SERVICE_ERROR_NAMES
        names["glue"] = "Glue"  # AWS names aws-sdk Glue errors "Glue.<Code>"
        self._undo.append(lambda: names.pop("glue", None))

    # -- the stack ----------------------------------------------------------------------------
    def deploy(self) -> None:
        """Everything `make deploy` would create that a night touches, as the template says."""
        s3 = self.client("s3")
        where = {"LocationConstraint": ACCOUNT.region}
        s3.create_bucket(Bucket=self.lake_bucket, CreateBucketConfiguration=where)
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration=where)
        artifacts = deploy.build_artifacts(self.work / "artifacts")
        deploy.upload(s3, ARTIFACTS_BUCKET, PREFIX, artifacts, say=lambda _: None)
        secret_arn = self.client("secretsmanager").create_secret(
            Name=f"{PREFIX}/hist-retail/source",
            SecretString=json.dumps(
                {
                    "host": self.source.host,
                    "port": self.source.port,
                    "dbname": self.source.database,
                    "username": self.source.user,
                    "password": self.source.password or "",
                }
            ),
        )["ARN"]
        parameters = {
            "Prefix": PREFIX,
            "LakeBucket": self.lake_bucket,
            "ArtifactsBucket": ARTIFACTS_BUCKET,
            "SourceSecretArn": secret_arn,
            **{a.parameter: a.key(PREFIX) for a in artifacts if a.parameter},
        }
        self.stack = ResolvedStack(ACCOUNT, parameters, template.template())
        self._create_roles()
        self._create_catalog()
        self._create_jobs()
        self._create_state_machine()

    def _create_roles(self) -> None:
        assert self.stack is not None
        iam, sts = self.client("iam"), self.client("sts")
        for logical_id, role in self.stack.of_type("AWS::IAM::Role").items():
            name = role["RoleName"]
            created = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
            )["Role"]
            iam.put_role_policy(
                RoleName=name,
                PolicyName="all",
                PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": self.stack.role_statements(logical_id)}
                ),
            )
            session = sts.assume_role(RoleArn=created["Arn"], RoleSessionName="rehearsal")
            credentials = session["Credentials"]
            self.sessions[name] = {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
            self.roles_by_key[credentials["AccessKeyId"]] = name
        self.roles_by_key[INTERPRETER_KEY] = self.role("StateMachineRole")

    def role(self, logical_id: str) -> str:
        assert self.stack is not None
        return str(self.stack.resources[logical_id]["Properties"]["RoleName"])

    def _create_catalog(self) -> None:
        assert self.stack is not None
        glue = self.client("glue")
        for database in self.stack.of_type("AWS::Glue::Database").values():
            glue.create_database(DatabaseInput=database["DatabaseInput"])
        for table in self.stack.of_type("AWS::Glue::Table").values():
            glue.create_table(DatabaseName=table["DatabaseName"], TableInput=table["TableInput"])

    def _create_jobs(self) -> None:
        assert self.stack is not None
        glue = self.client("glue")
        for job in self.stack.of_type("AWS::Glue::Job").values():
            # moto keeps a job's SecurityConfiguration as a name only; the configuration
            # itself (encryption settings) has no effect on what the rehearsal runs.
            glue.create_job(**{k: v for k, v in job.items() if k != "SecurityConfiguration"})

    def _create_state_machine(self) -> None:
        assert self.stack is not None
        (machine,) = self.stack.of_type("AWS::StepFunctions::StateMachine").values()
        definition = machine["DefinitionString"]
        for name, value in machine["DefinitionSubstitutions"].items():
            definition = definition.replace("${" + name + "}", str(value))
        self.state_machine_arn = self.client("stepfunctions").create_state_machine(
            name=machine["StateMachineName"],
            definition=definition,
            roleArn=self.stack.get_att("StateMachineRole", "Arn"),
            type=machine["StateMachineType"],
        )["stateMachineArn"]

    # -- a job run ----------------------------------------------------------------------------
    def _run_job(self, job: Any, run: Any) -> None:
        """Fetch the job's script and wheel as the Glue role, as Glue does, and start it."""
        role = job.role.rpartition("/")[2]
        credentials = self.sessions[role]
        s3 = self.client("s3", credentials)
        folder = self.work / "runs" / run.job_run_id[:16]
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / Path(job.command["ScriptLocation"]).name
        bucket, key = _split_s3(job.command["ScriptLocation"])
        s3.download_file(bucket, key, str(script))
        arguments = dict(run.arguments or {})
        wheel_bucket, wheel_key = _split_s3(arguments["--additional-python-modules"])
        wheel = folder / Path(wheel_key).name
        s3.download_file(wheel_bucket, wheel_key, str(wheel))
        # Glue pip-installs --additional-python-modules; the run imports that install, not the
        # checkout, so the wheel's contents are what the rehearsal runs.
        site = folder / "site"
        installer = str(arguments.get("--python-modules-installer-option", "")).split()
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", *installer,
             "--target", str(site), str(wheel)],
            check=True,
            env={**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/no-index-here"},
        )  # fmt: skip
        argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
        for name, value in arguments.items():
            argv += [name, str(value)]
        log = folder / "job.log"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RETAIL_"))},
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": credentials["aws_session_token"],
            "AWS_DEFAULT_REGION": ACCOUNT.region,
            "AWS_REGION": ACCOUNT.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "RETAIL_SPARK_JARS": ",".join(s3a_jars()),
            "RETAIL_ETL_HOME": str(folder / "home"),
            "PYTHONPATH": str(site),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, str(script), *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )
        self.jobs[run.job_run_id] = JobProcess(run.job_run_id, job.name, process, log)

    # -- the night ----------------------------------------------------------------------------
    def trigger(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The trigger Lambda's handler, in this process, as the trigger role."""
        from orchestration import trigger

        assert self.stack is not None
        credentials = self.sessions[self.role("TriggerRole")]
        environment = {
            **self.stack.function_environment(),  # as deployed: LOOKBACK_DAYS among them
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": credentials["aws_session_token"],
            "AWS_DEFAULT_REGION": ACCOUNT.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "STATE_MACHINE_ARN": self.state_machine_arn,
        }
        with _environment(environment):
            return trigger.handler(dict(event))

    def wait(self, execution_arn: str, timeout: float = 900) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still running after {timeout:.0f} s")
            time.sleep(0.5)
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        described["history"] = events
        return dict(described)

    def integration_calls(self, history: list[dict[str, Any]]) -> list[authz.Call]:
        """The state machine's service integrations as AWS authorizes them: one call per
        scheduled task, in the integration's documented terms (a `.sync` Glue task)."""
        calls = []
        for event in history:
            details = event.get("taskScheduledEventDetails")
            if not details:
                continue
            operation = details["resource"]  # e.g. startJobRun.sync
            service = details["resourceType"]
            name = operation[0].upper() + operation[1:]
            calls.append(
                authz.Call(
                    self.role("StateMachineRole"),
                    service,
                    name,
                    json.loads(details["parameters"]),
                )
            )
        return calls

    def job_logs(self) -> dict[str, str]:
        """`<job> <job run id>` -> the run's log, for every job run, in the order they started."""
        return {
            f"{p.job} {p.run_id}": p.log.read_text(errors="replace") for p in self.jobs.values()
        }


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""The first night, rehearsed without an AWS account.

moto's server stands in for AWS on 127.0.0.1; the stack's roles, tables, jobs and state machine
are made there from the rendered template; the state machine's Glue tasks run the real jobs as
the Glue role, on S3 through S3A and on the Glue Data Catalog; every call that reaches the
server is recorded with the role whose credentials signed it and checked against that role's
statements by `policy`, through the IAM requests `authorization` says each call is.
"""

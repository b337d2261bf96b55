vault {
  address = "https://vault.example.com:8200"
  namespace = "team-a"
}

exit_after_auth = true

auto_auth {
  method "aws" {
    mount_path = "auth/aws-subaccount"
    namespace = "team-a"
    exit_on_err = true
    config = {
      type = "iam"
      role = "foobar"
      region = "us-west-2"
      header_value = "vault.example.com"
    }
  }

  sink "file" {
    config = {
      path = "/run/auth-service/agent-x/token"
      mode = 384
    }
  }
}

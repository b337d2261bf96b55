vault {
  address = "https://vault.example.com"
}

exit_after_auth = true

auto_auth {
  method "aws" {
    mount_path = "auth/aws"
    exit_on_err = true
    config = {
      type = "ec2"
      role = "dev-role"
      nonce = "5defbf9e-a8f9-3063-bdfc-54b7a42a1f95"
    }
  }

  sink "file" {
    config = {
      path = "/run/auth-service/agent-x/token"
      mode = 384
    }
  }
}

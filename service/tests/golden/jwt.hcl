vault {
  address = "http://127.0.0.1:8200"
}

exit_after_auth = true

auto_auth {
  method "jwt" {
    mount_path = "auth/jwt"
    exit_on_err = true
    min_backoff = "1s"
    max_backoff = "10s"
    config = {
      path = "/var/run/identity/token"
      role = "app"
      remove_jwt_after_reading = false
    }
  }

  sink "file" {
    config = {
      path = "/run/auth-service/agent-x/token"
      mode = 384
    }
  }
}

# escape=xx
FROM debian:12

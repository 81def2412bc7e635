fn main() {
    std::process::exit(oxctl::run());
}
